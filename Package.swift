// swift-tools-version:6.0
import PackageDescription

// llama.cpp is found through pkg-config (`llama.pc`). `make` points PKG_CONFIG_PATH at the
// pinned build in the per-user cache and adds its lib folder as an rpath; a llama.cpp that
// pkg-config already finds (Homebrew, a distro package) works the same way.
let hostVectorCode: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "native"], .when(platforms: [.linux])),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

let package = Package(
    name: "thinktop",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "thinktop", targets: ["TUI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CLlama", path: "Sources/CLlama", pkgConfig: "llama",
                       providers: [.brew(["llama.cpp"])]),
        .systemLibrary(name: "CNcurses", path: "Sources/CNcurses",
                       providers: [.apt(["libncursesw5-dev"]), .brew(["ncurses"])]),
        // The vectorised maths (e^x, softmax, embedding mixtures) and Core's per-token passes
        // scan the whole vocabulary: they are written with SIMD types and need the host's
        // vector units (AVX2/AVX-512 here: 10× faster than the SSE2 baseline), and
        // optimisation even in debug builds so that tests run at real speed.
        .target(name: "Kernels", path: "Sources/Kernels", swiftSettings: hostVectorCode),
        .target(name: "Core", dependencies: ["Kernels"], path: "Sources/Core", swiftSettings: hostVectorCode),
        .target(name: "Engine", dependencies: ["CLlama", "Core", "Kernels"], path: "Sources/Engine"),
        .target(name: "Views", dependencies: ["Core"], path: "Sources/Views"),
        .target(name: "Report", dependencies: ["Core", "Views"], path: "Sources/Report"),
        .executableTarget(
            name: "TUI",
            dependencies: [
                "Engine", "Core", "Views", "Report", "CNcurses",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/TUI"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"], path: "Tests/KernelsTests"),
        .testTarget(name: "CoreTests", dependencies: ["Core", "Kernels"], path: "Tests/CoreTests"),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Core", "TestSupport"], path: "Tests/EngineTests"),
        .testTarget(name: "ViewsTests", dependencies: ["Views"], path: "Tests/ViewsTests"),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Core", "Views", "TestSupport"], path: "Tests/ReportTests"),
        .testTarget(name: "EndToEndTests", dependencies: ["Core", "TestSupport"], path: "Tests/EndToEndTests"),
    ],
    swiftLanguageModes: [.v6]
)
