import Testing
@testable import Views

@Suite("Workbench layout")
struct LayoutTests {
    @Test("80×24: the right column shrinks to 24 columns; decoding keeps the rest")
    func standard() throws {
        let l = try #require(WorkbenchLayout(width: 80, height: 24))
        #expect(l.statusBar == Rect(x: 0, y: 0, width: 80, height: 1))
        #expect(l.decoding == Rect(x: 0, y: 1, width: 56, height: 13))
        #expect(l.signals == Rect(x: 0, y: 14, width: 56, height: 4))
        #expect(l.kvMap == Rect(x: 0, y: 18, width: 56, height: 5))
        #expect(l.strategies == Rect(x: 56, y: 1, width: 24, height: 9))
        #expect(l.budget == Rect(x: 56, y: 10, width: 24, height: 4))
        #expect(l.topK == Rect(x: 56, y: 14, width: 24, height: 9))
        #expect(l.keyBar == Rect(x: 0, y: 23, width: 80, height: 1))
    }

    @Test("120×40: a 30% right column, two rows per sparkline, a taller budget")
    func large() throws {
        let l = try #require(WorkbenchLayout(width: 120, height: 40))
        #expect(l.decoding == Rect(x: 0, y: 1, width: 84, height: 27))
        #expect(l.signals == Rect(x: 0, y: 28, width: 84, height: 6))
        #expect(l.kvMap == Rect(x: 0, y: 34, width: 84, height: 5))
        #expect(l.strategies == Rect(x: 84, y: 1, width: 36, height: 10))
        #expect(l.budget == Rect(x: 84, y: 11, width: 36, height: 6))
        #expect(l.topK == Rect(x: 84, y: 17, width: 36, height: 22))
        #expect(l.keyBar == Rect(x: 0, y: 39, width: 120, height: 1))
    }

    @Test("60×16, the minimum: every pane keeps at least one row inside its border")
    func minimum() throws {
        let l = try #require(WorkbenchLayout(width: 60, height: 16))
        #expect(l.decoding == Rect(x: 0, y: 1, width: 40, height: 5))
        #expect(l.signals == Rect(x: 0, y: 6, width: 40, height: 4))
        #expect(l.kvMap == Rect(x: 0, y: 10, width: 40, height: 5))
        #expect(l.strategies == Rect(x: 40, y: 1, width: 20, height: 5))
        #expect(l.budget == Rect(x: 40, y: 6, width: 20, height: 4))
        #expect(l.topK == Rect(x: 40, y: 10, width: 20, height: 5))
        #expect(l.keyBar == Rect(x: 0, y: 15, width: 60, height: 1))
        for (name, r) in l.named where name != "status" && name != "keys" {
            #expect(Box.inner(r).height >= 2, "\(name)")
        }
    }

    @Test("below the minimum there is no layout")
    func tooSmall() {
        #expect(WorkbenchLayout(width: 59, height: 16) == nil)
        #expect(WorkbenchLayout(width: 60, height: 15) == nil)
        #expect(WorkbenchLayout(width: 0, height: 0) == nil)
        #expect(WorkbenchLayout(width: -5, height: 100) == nil)
    }

    @Test("at every size the rectangles stay on screen, never overlap, and tile it")
    func tiles() throws {
        for width in stride(from: 60, through: 240, by: 7) {
            for height in stride(from: 16, through: 80, by: 5) {
                let l = try #require(WorkbenchLayout(width: width, height: height))
                let rects = l.named.map(\.rect)
                for r in rects {
                    #expect(!r.isEmpty && r.x >= 0 && r.y >= 0 && r.maxX <= width && r.maxY <= height,
                            "\(r) off a \(width)×\(height) screen")
                }
                for i in rects.indices {
                    for j in rects.indices where j > i {
                        #expect(rects[i].intersection(rects[j]).isEmpty, "\(l.named[i].name) overlaps \(l.named[j].name) at \(width)×\(height)")
                    }
                }
                #expect(rects.reduce(0) { $0 + $1.width * $1.height } == width * height, "gaps at \(width)×\(height)")
                #expect(l.decoding.width >= l.strategies.width, "decoding narrower than the right column at \(width)")
            }
        }
    }
}
