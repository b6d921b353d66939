import Foundation

/// How chart elements are coloured: in the HTML report by CSS classes (so the page's light
/// and dark schemes apply), in a standalone figure by explicit colours (LaTeX and slide
/// tools read attributes, not style sheets).
struct Paint: Sendable {
    /// role → colour, for figures; nil: classes
    var colours: [String: String]?
    var font = "sans-serif"

    static let classes = Paint(colours: nil)

    func stroke(_ role: String, width: Double = 1.2, dash: String? = nil) -> String {
        var a = colours.map { "stroke=\"\($0[role] ?? "#000000")\"" } ?? "class=\"\(role)\""
        a += " fill=\"none\" stroke-width=\"\(Chart.number(width))\""
        if let d = dash { a += " stroke-dasharray=\"\(d)\"" }
        return a
    }

    func fill(_ role: String, opacity: Double? = nil) -> String {
        var a = colours.map { "fill=\"\($0[role] ?? "#000000")\"" } ?? "class=\"\(role)\""
        if let o = opacity { a += " fill-opacity=\"\(Chart.number(o))\"" }
        return a
    }

    func text(_ role: String = "axis-text", size: Double) -> String {
        colours.map { "fill=\"\($0[role] ?? "#000000")\" font-family=\"\(font)\" font-size=\"\(Chart.number(size))\"" }
            ?? "class=\"\(role)\" font-size=\"\(Chart.number(size))\""
    }
}

/// One chart: panels stacked over a shared step axis, drawn as plain SVG elements.
struct Chart {
    /// a line (polyline, one point per step), a band (polygon between two series), a step
    /// line, or a horizontal rule
    enum Layer {
        case line([Double], role: String, width: Double = 1.2, dash: String? = nil, label: String? = nil)
        case band(low: [Double], high: [Double], role: String)
        case rule(Double, role: String, label: String)
    }

    struct Panel {
        var title: String
        var unit: String
        var maximum: Double
        var layers: [Layer]
    }

    var steps: [Int]
    var panels: [Panel]
    /// vertical marks across every panel: step, family (a role), label
    var marks: [(step: Int, role: String, label: String)] = []
    var width: Double
    var height: Double
    var fontSize: Double
    var paint: Paint

    static func number(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(format: "%.1f", r)
    }

    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // XML 1.0 allows no control characters but tab and the newlines
                if c.value < 0x20 && c != "\t" && c != "\n" && c != "\r" { out += "\u{FFFD}" } else { out.unicodeScalars.append(c) }
            }
        }
        return out
    }

    /// "nice" tick values from 0 to `maximum` (about `count` of them)
    static func ticks(_ maximum: Double, count: Int) -> [Double] {
        guard maximum > 0 else { return [0] }
        let raw = maximum / Double(max(1, count))
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        return stride(from: 0.0, through: maximum + step * 1e-9, by: step).map { $0 }
    }

    /// The SVG elements (no `<svg>` wrapper): axes, grid, layers, marks.
    func body() -> String {
        var out = ""
        let left = fontSize * 4.2, right = fontSize * 1.2, top = fontSize * 0.8, bottom = fontSize * 3
        let gap = fontSize * 1.8
        let plotWidth = max(10, width - left - right)
        let panelHeight = max(10, (height - top - bottom - gap * Double(max(0, panels.count - 1))) / Double(max(1, panels.count)))
        let first = Double(steps.first ?? 0), last = Double(max(steps.last ?? 1, (steps.first ?? 0) + 1))
        func x(_ step: Double) -> Double { left + (step - first) / (last - first) * plotWidth }
        let xs = steps.map { x(Double($0)) }

        for (p, panel) in panels.enumerated() {
            let y0 = top + Double(p) * (panelHeight + gap)
            func y(_ v: Double) -> Double {
                let c = v.isFinite ? min(max(v, 0), panel.maximum) : 0
                return y0 + panelHeight - c / panel.maximum * panelHeight
            }
            out += "<g\(paint.colours == nil ? " class=\"panel\"" : "") data-panel=\"\(Self.escape(panel.title))\">"
            // grid and y ticks
            for t in Self.ticks(panel.maximum, count: panelHeight > fontSize * 8 ? 4 : 2) {
                let ty = y(t)
                out += "<line x1=\"\(Self.number(left))\" x2=\"\(Self.number(left + plotWidth))\" y1=\"\(Self.number(ty))\" y2=\"\(Self.number(ty))\" \(paint.stroke("grid", width: 0.5))/>"
                out += "<text x=\"\(Self.number(left - fontSize * 0.4))\" y=\"\(Self.number(ty + fontSize * 0.35))\" text-anchor=\"end\" \(paint.text(size: fontSize * 0.85))>\(Self.tickLabel(t))</text>"
            }
            // the panel's title, rotated along its y axis
            let cy = y0 + panelHeight / 2
            out += "<text x=\"\(Self.number(fontSize))\" y=\"\(Self.number(cy))\" text-anchor=\"middle\" transform=\"rotate(-90 \(Self.number(fontSize)) \(Self.number(cy)))\" \(paint.text(size: fontSize))>\(Self.escape(panel.title + (panel.unit.isEmpty ? "" : " (\(panel.unit))")))</text>"
            for layer in panel.layers {
                switch layer {
                case .line(let values, let role, let w, let dash, _):
                    let points = zip(xs, values).map { "\(Self.number($0)),\(Self.number(y($1)))" }.joined(separator: " ")
                    out += "<polyline data-series=\"\(role)\" points=\"\(points)\" \(paint.stroke(role, width: w, dash: dash)) stroke-linejoin=\"round\"/>"
                case .band(let low, let high, let role):
                    let upper = zip(xs, high).map { "\(Self.number($0)),\(Self.number(y($1)))" }
                    let lower = zip(xs, low).reversed().map { "\(Self.number($0)),\(Self.number(y($1)))" }
                    out += "<polygon data-series=\"\(role)\" points=\"\((upper + lower).joined(separator: " "))\" \(paint.fill(role, opacity: 0.35))/>"
                case .rule(let v, let role, let label):
                    let ry = y(v)
                    out += "<line x1=\"\(Self.number(left))\" x2=\"\(Self.number(left + plotWidth))\" y1=\"\(Self.number(ry))\" y2=\"\(Self.number(ry))\" \(paint.stroke(role, width: 1, dash: "4 3"))/>"
                    out += "<text x=\"\(Self.number(left + plotWidth - 2))\" y=\"\(Self.number(ry - 3))\" text-anchor=\"end\" \(paint.text(role, size: fontSize * 0.85))>\(Self.escape(label))</text>"
                }
            }
            // a key to the panel's lines when it has more than one
            let keyed = panel.layers.compactMap { layer -> (String, String, Double, String?)? in
                if case .line(_, let role, let w, let dash, let label?) = layer { return (role, label, w, dash) }
                return nil
            }
            if keyed.count > 1 {
                var kx = left + plotWidth - fontSize * 0.5
                let ky = y0 + fontSize * 0.9
                for (role, label, w, dash) in keyed.reversed() {
                    let textWidth = Double(label.count) * fontSize * 0.55
                    kx -= textWidth
                    out += "<text x=\"\(Self.number(kx))\" y=\"\(Self.number(ky + fontSize * 0.35))\" \(paint.text(size: fontSize * 0.85))>\(Self.escape(label))</text>"
                    out += "<line x1=\"\(Self.number(kx - fontSize * 2))\" x2=\"\(Self.number(kx - fontSize * 0.4))\" y1=\"\(Self.number(ky))\" y2=\"\(Self.number(ky))\" \(paint.stroke(role, width: w, dash: dash))/>"
                    kx -= fontSize * 3.2
                }
            }
            // the frame
            out += "<rect x=\"\(Self.number(left))\" y=\"\(Self.number(y0))\" width=\"\(Self.number(plotWidth))\" height=\"\(Self.number(panelHeight))\" \(paint.stroke("axis", width: 0.8))/>"
            // marks: a thin line with the event as its tooltip
            for m in marks where Double(m.step) >= first && Double(m.step) <= last {
                let mx = x(Double(m.step))
                out += "<line data-mark=\"\(m.step)\" x1=\"\(Self.number(mx))\" x2=\"\(Self.number(mx))\" y1=\"\(Self.number(y0))\" y2=\"\(Self.number(y0 + panelHeight))\" \(paint.stroke(m.role, width: 1, dash: "2 2"))><title>step \(m.step): \(Self.escape(m.label))</title></line>"
            }
            out += "</g>"
        }
        // the step axis under the last panel
        let axisY = top + Double(panels.count) * panelHeight + Double(max(0, panels.count - 1)) * gap
        // whole steps only
        for t in Self.ticks(last - first, count: max(1, min(Int(last - first), Int(plotWidth / (fontSize * 6))))) where t == t.rounded() {
            let tx = x(first + t)
            out += "<line x1=\"\(Self.number(tx))\" x2=\"\(Self.number(tx))\" y1=\"\(Self.number(axisY))\" y2=\"\(Self.number(axisY + 3))\" \(paint.stroke("axis", width: 0.8))/>"
            out += "<text x=\"\(Self.number(tx))\" y=\"\(Self.number(axisY + fontSize * 1.2))\" text-anchor=\"middle\" \(paint.text(size: fontSize * 0.85))>\(Self.tickLabel(first + t))</text>"
        }
        out += "<text x=\"\(Self.number(left + plotWidth / 2))\" y=\"\(Self.number(axisY + fontSize * 2.5))\" text-anchor=\"middle\" \(paint.text(size: fontSize))>step</text>"
        return out
    }

    static func tickLabel(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(format: v * 10 == (v * 10).rounded() ? "%.1f" : "%.2f", v)
    }

    /// A whole SVG document: width and height in pixels, the viewBox the same.
    func document(title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(Self.number(width))\" height=\"\(Self.number(height))\" viewBox=\"0 0 \(Self.number(width)) \(Self.number(height))\">"
            + "<title>\(Self.escape(title))</title>"
            + (paint.colours.map { "<rect width=\"100%\" height=\"100%\" fill=\"\($0["background"] ?? "#ffffff")\"/>" } ?? "")
            + body() + "</svg>\n"
    }

    /// An inline SVG for the page: scales with the page's width.
    func inline(id: String, label: String) -> String {
        "<svg id=\"\(id)\" class=\"chart\" role=\"img\" aria-label=\"\(Self.escape(label))\" viewBox=\"0 0 \(Self.number(width)) \(Self.number(height))\">"
            + body() + "</svg>"
    }
}
