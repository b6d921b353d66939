import Core
import Foundation
import Testing
import Views

@Suite("Themes")
struct ThemeTests {
    static let themesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Themes").path

    @Test("every shipped theme parses", arguments: ["dark", "light", "high-contrast", "monochrome"])
    func shippedThemes(_ name: String) throws {
        let t = try Theme.load(name, directories: [Self.themesDirectory])
        #expect(t.monochrome == (name == "monochrome"))
        if name != "monochrome" {
            // colour themes name every role
            for role in Role.all { #expect(t.entries[role] != nil, "\(name) lacks \(role)") }
        }
    }

    @Test("a malformed line is an error naming the file and line")
    func malformed() {
        let text = "# a theme\ntext = 252\npane.border == 240 bold\n"
        #expect(throws: ThinktopError.invalidArgument("theme t.theme line 3: \"=\" is not a colour or attribute")) {
            try Theme.parse(text, name: "t.theme")
        }
        #expect(throws: ThinktopError.invalidArgument("theme t line 1: unknown role \"nonsense\"")) {
            try Theme.parse("nonsense = red", name: "t")
        }
        #expect(throws: ThinktopError.invalidArgument("theme t line 2: expected `role = colour …`, got \"text red\"")) {
            try Theme.parse("\ntext red", name: "t")
        }
        #expect(throws: ThinktopError.self) { try Theme.load("no-such-theme", directories: [Self.themesDirectory]) }
    }

    @Test("colours: names, indices and #rrggbb, degraded to 256 and 8 colours")
    func colours() throws {
        let t = try Theme.parse("text = #ff0000 default bold\nentropy = 208\n", name: "t")
        let text = t.entry(for: Role.text)
        #expect(text.bold && text.background == .terminalDefault)
        #expect(text.foreground.paletteIndex(colors: 256) == 196)
        #expect(text.foreground.paletteIndex(colors: 8) == 1)
        // a role falls back to its parent, then to text
        #expect(t.entry(for: Role.entropy(5)).foreground == .index(208))
        #expect(ThemeColor.index(208).paletteIndex(colors: 8) == 3)   // orange → yellow
        #expect(t.entry(for: Role.kvFree) == text)
        #expect(ThemeColor.terminalDefault.paletteIndex(colors: 256) == nil)
        #expect(ThemeColor.index(12).paletteIndex(colors: 16) == 12)
    }
}
