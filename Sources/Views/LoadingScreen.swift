/// The screen while a model loads: what loads where (`gemma-3-270m-q4_k_m.gguf (241 MiB) on
/// CPU`), a bar and the percentage, centred; large models take seconds to minutes.
public enum LoadingScreen {
    public static func render(what: String, fraction: Double, width: Int, height: Int, glyphs: Glyphs) -> Surface {
        var surface = Surface(width: width, height: height)
        guard width >= 10, height >= 3 else { return surface }
        let f = min(1, max(0, fraction))
        let pct = "\(Int(f * 100))%"
        let barWidth = max(4, min(50, width - 12))
        let filled = Int((Double(barWidth) * f).rounded(.down))
        let top = max(0, height / 2 - 1)
        let title = Format.clip("Loading " + what, to: width - 2, glyphs: glyphs)
        surface.put(title, x: max(0, (width - DisplayWidth.of(title)) / 2), y: top, style: Style(Role.title, bold: true))
        let x = max(0, (width - barWidth - 1 - pct.count) / 2)
        surface.put(String(repeating: glyphs.hbars[8], count: filled), x: x, y: top + 2, style: Style(Role.gaugeUsed))
        surface.put(String(repeating: glyphs.gaugeFree, count: barWidth - filled), x: x + filled, y: top + 2, style: Style(Role.gaugeFree))
        surface.put(pct, x: x + barWidth + 1, y: top + 2, style: Style(Role.text, bold: true))
        surface.put("Ctrl-C stops", x: max(0, (width - 12) / 2), y: min(height - 1, top + 4), style: Style(Role.dim, dim: true))
        return surface
    }
}
