import ArgumentParser
import CNcurses
import Core
import Foundation

// Entry point. Errors a user can cause print as one line on stderr with a non-zero exit;
// --help and usage errors keep ArgumentParser's wording but stay short.
setvbuf(tt_stdout(), nil, _IOFBF, 1 << 16)
// a trace that outgrows the file-size limit fails its write (EFBIG, reported in one line)
// instead of the process being killed with it
signal(SIGXFSZ, SIG_IGN)
do {
    // `tui` is the default subcommand and takes no arguments, so a mistyped subcommand
    // (`thinktop repaly t.jsonl`) would otherwise read as stray arguments to the workbench
    if let word = CommandLine.arguments.dropFirst().first, let meant = Thinktop.unknownSubcommand(word) {
        printError("thinktop: unknown subcommand '\(word)'\(meant.map { " (did you mean '\($0)'?)" } ?? ""); see `thinktop help`\n")
        exit(64)
    }
    var command = try Thinktop.parseAsRoot()
    try command.run()
} catch let code as ExitCode {
    fflush(tt_stdout())
    exit(code.rawValue)   // the command said what went wrong already
} catch let error as ThinktopError {
    fflush(tt_stdout())
    printError("thinktop: \(error)\n")
    exit(1)
} catch {
    fflush(tt_stdout())
    let code = Thinktop.exitCode(for: error)
    if code == .success {
        Thinktop.exit(withError: error)   // --help, --version
    }
    let message = Thinktop.message(for: error)
        .split(separator: "\n").first.map(String.init) ?? "\(error)"
    var line = message.replacingOccurrences(of: "Error: ", with: "")
    if line.hasPrefix("Unknown option") || line.hasPrefix("Missing value") || line.hasPrefix("Unexpected argument") {
        line += " (see `thinktop help`)"
    }
    printError("thinktop: \(line)\n")
    exit(code.rawValue == 0 ? 1 : code.rawValue)
}
