/// A part of the workbench: a pure function of a snapshot, drawn into a rectangle of a
/// surface. A pane first clears its rectangle, writes nothing outside it, keeps no state
/// between frames (the cursor and scroll come from the snapshot) and never fails on odd
/// input: an empty rectangle, no records, a cursor out of range.
public protocol Pane {
    func render(_ snapshot: WorkbenchSnapshot, into surface: inout Surface, area: Rect, glyphs: Glyphs)
}
