import Core
import Foundation
import Views

/// `thinktop bench --replay TRACE`: how fast a long trace opens in the workbench and how fast
/// it scrubs, measured on the workbench's own code drawn off-screen (no terminal): the time to
/// the first frame (the file read and parsed, the timeline built, the first token drawn), the
/// time of seeks to places spread over the trace (each drawn), and the memory it took.
enum ReplayBench {
    static func run(path: String, seeks: Int, width: Int = 160, height: Int = 48) throws -> String {
        let before = residentKB()
        let start = DispatchTime.now()
        let reader = try Replay.read(path, run: nil)
        let read = seconds(since: start)
        let afterRead = residentKB()
        let timeline = try ReplayTimeline(reader: reader)
        let afterTimeline = residentKB()
        var snapshot = WorkbenchApp.replaySnapshot(timeline)
        _ = timeline.stepForward()
        WorkbenchApp.show(timeline, in: &snapshot)
        var frame = Workbench.render(snapshot, width: width, height: height, glyphs: .unicode)
        let first = seconds(since: start)
        // seeks to places spread over the whole trace, in a shuffled order (back and forth)
        var g = SeededGenerator(seed: 1)
        let targets = (0..<seeks).map { k in timeline.length * (k + 1) / (seeks + 1) }.shuffled(using: &g)
        var times: [Double] = []
        for t in targets {
            let s = DispatchTime.now()
            snapshot.records = []          // as the workbench does: the timeline's arrays unshared
            timeline.seek(to: t)
            WorkbenchApp.show(timeline, in: &snapshot)
            frame = Workbench.render(snapshot, width: width, height: height, glyphs: .unicode)
            times.append(seconds(since: s) * 1000)
        }
        _ = frame
        let peak = peakKB(), now = residentKB()
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let tokens = reader.tokens.count
        let sorted = times.sorted()
        let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        var out = String(format: "replay bench: %@ · %d tokens · %.1f MB · %d×%d\n", (path as NSString).lastPathComponent, tokens,
                         Double(size) / 1e6, width, height)
        out += String(format: "first frame   %.3f s (read and parse %.3f s)\n", first, read)
        out += String(format: "seek + frame  median %.1f ms, max %.1f ms over %d seeks spread over the trace\n", median,
                      sorted.last ?? 0, times.count)
        out += String(format: "memory        peak %.1f MB resident, %.1f MB over the %.1f MB before reading (%.2f × the file)\n",
                      Double(peak) / 1e3, Double(peak - before) / 1e3, Double(before) / 1e3,
                      size > 0 ? Double(peak - before) * 1e3 / Double(size) : 0)
        out += String(format: "              resident after reading %.1f MB, the timeline built %.1f MB, the seeks done %.1f MB\n",
                      Double(afterRead) / 1e3, Double(afterTimeline) / 1e3, Double(now) / 1e3)
        return out
    }

    static func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    /// Resident memory now, kB (Linux: /proc/self/statm; elsewhere the peak).
    static func residentKB() -> Int {
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
           let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) {
            return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
        }
        return peakKB()
    }

    /// The peak resident memory, kB.
    static func peakKB() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss
    }
}
