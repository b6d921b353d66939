import Foundation
import Views

/// The report's colours, taken from the workbench's own themes: the light theme for a page in
/// a light scheme and for figures, the dark theme for a page in a dark scheme. Entropy buckets
/// are the workbench's (`EntropyScale`), so a token has the colour it has in the terminal.
public struct ReportPalette: Sendable {
    public var light: Theme
    public var dark: Theme

    public init(light: Theme, dark: Theme) { self.light = light; self.dark = dark }

    /// The shipped `light` and `dark` themes from `directories` (as the workbench finds them).
    public static func load(directories: [String]) throws -> ReportPalette {
        ReportPalette(light: try Theme.load("light", directories: directories), dark: try Theme.load("dark", directories: directories))
    }

    /// chart and page roles → the theme role whose foreground they take
    static let roles: [(String, String)] = [
        ("text", Role.text), ("dim", Role.dim), ("title", Role.title), ("border", Role.border),
        ("axis", Role.text), ("axis-text", Role.text), ("grid", Role.border),
        ("entropy", Role.sparkEntropy), ("band", Role.sparkBand), ("mean", Role.text),
        ("confidence", Role.sparkConfidence), ("margin", Role.compareLeft), ("varentropy", Role.tokenLatent),
        ("thinking", Role.phaseThinking), ("budget", Role.gaugeForced), ("kv", Role.kvThinking), ("capacity", Role.dim),
        ("mark-strategy", Role.tokenForced), ("mark-kv", Role.kvEvicted), ("mark-branch", Role.branchFork),
        ("mark-command", Role.dim), ("latent", Role.tokenLatent), ("forced", Role.tokenForced),
        ("suppressed", Role.tokenSuppressed), ("answer", Role.phaseAnswer), ("left", Role.compareLeft),
        ("right", Role.compareRight), ("differs", Role.compareDiffers), ("fork", Role.branchFork),
    ] + (0..<Role.entropyBuckets).map { ("e\($0)", Role.entropy($0)) }

    static func colour(_ theme: Theme, _ role: String, fallback: String) -> String {
        theme.entry(for: role).foreground.css ?? fallback
    }

    /// `--name: #rrggbb;` for every role, from `theme`
    static func variables(_ theme: Theme, text: String) -> String {
        roles.map { "--\($0.0): \(colour(theme, $0.1, fallback: text));" }.joined(separator: " ")
    }

    /// The page's colour variables: light by default, dark under `prefers-color-scheme: dark`.
    public var css: String {
        ":root { color-scheme: light dark; --background: #ffffff; --panel: #f4f4f4; \(Self.variables(light, text: "#1c1c1c")) }\n"
            + "@media (prefers-color-scheme: dark) { :root { --background: #121212; --panel: #1e1e1e; \(Self.variables(dark, text: "#d0d0d0")) } }\n"
    }

    /// Explicit colours for a standalone figure (the light theme on white).
    public var figure: [String: String] {
        var out = ["background": "#ffffff"]
        for (name, role) in Self.roles { out[name] = Self.colour(light, role, fallback: "#000000") }
        out["axis"] = "#000000"; out["axis-text"] = "#000000"; out["grid"] = "#d0d0d0"
        return out
    }
}
