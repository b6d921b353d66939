import Foundation

/// Writes to stderr without trapping: Foundation's `FileHandle.write(_:)` crashes the process
/// on a failed write (a closed pipe, a full disk), and a message must never cost the run.
func printError(_ text: String) {
    try? FileHandle.standardError.write(contentsOf: Data(text.utf8))
}
