import Foundation
public import KeelCore
import Synchronization

/// A wall clock tests move by hand: real time plus an offset, so a 30-day sleep passes in a call.
public final class ManualClock: WallClock {
    private let offset = Locked<Int64>(0)

    public init() {}

    public func now() -> EpochMillis {
        EpochMillis(Date().timeIntervalSince1970 * 1000) + offset.withLock { $0 }
    }

    /// Moves the clock forward by `ms` milliseconds.
    public func advance(byMs ms: Int64) { offset.withLock { $0 += ms } }
}
