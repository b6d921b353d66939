import Core
import Foundation

/// The three exports of a trace, as text ready to write.
public enum Export {
    public static func html(_ input: ReportInput, palette: ReportPalette) -> String { HTMLReport.render(input, palette: palette) }
    public static func svg(_ input: ReportInput, options: FigureOptions, palette: ReportPalette) -> String {
        Figures.svg(input, options: options, palette: palette)
    }
    public static func csv(_ input: ReportInput) -> String { CSVExport.csv(input) }

    /// Writes `text` to `path` whole (a temporary file renamed into place, so a reader never
    /// sees half a report); one line naming the path and the reason when it cannot.
    public static func write(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
            throw ThinktopError.invalidArgument("cannot write \(path): the folder \(dir.path) does not exist")
        }
        let temporary = dir.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        do {
            try Data(text.utf8).write(to: temporary)
            guard rename(temporary.path, url.path) == 0 else {
                throw ThinktopError.invalidArgument("cannot write \(path): \(String(cString: strerror(errno)))")
            }
        } catch let e as ThinktopError {
            try? FileManager.default.removeItem(at: temporary)
            throw e
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            let reason = (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
            throw ThinktopError.invalidArgument("cannot write \(path): \(reason)")
        }
    }
}
