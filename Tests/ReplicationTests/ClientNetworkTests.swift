import Harness
@testable import Replication
import Testing

@Suite("Client network")
struct ClientNetworkTests {
    func network(retry: UInt64 = 1_000_000, dedup: Bool = true, resend: Bool = true) -> ClientNetwork<KVClient> {
        ClientNetwork(client: KVClient(rate: 1e9, arrivals: .constant, seed: 1, start: 0), durationNanos: 1_000_000_000,
                      retryNanos: retry, dedup: dedup, resend: resend)
    }

    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4_096, alignment: 8)

    /// A reply to request `seq` as the kvstore guest writes it.
    func reply(_ seq: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 24)
        withUnsafeBytes(of: seq.littleEndian) { for i in 0..<8 { bytes[i] = $0[i] } }
        return bytes
    }

    func take(_ net: ClientNetwork<KVClient>, side: Side = .a, epoch: UInt64 = 1, now: UInt64) -> UInt64? {
        if case .taken(_, let seq) = net.takeRequest(for: side, epoch: epoch, into: buffer, now: now) { return seq }
        return nil
    }

    @Test("only the address's owner gets requests, and a claim moves the address")
    func ownership() {
        let net = network()
        #expect(take(net, side: .b, now: 10) == nil)
        #expect(take(net, side: .a, now: 10) == 1)
        net.claim(by: .b, epoch: 2)
        #expect(take(net, side: .a, now: 20) == nil)
        #expect(take(net, side: .b, epoch: 2, now: 20) == 2)
    }

    @Test("an unanswered request is sent again after the retry timeout; an answered one never")
    func resend() {
        let net = network()
        #expect(take(net, now: 10) == 1)
        #expect(take(net, now: 20) == 2)
        reply(2).withUnsafeBytes { net.deliver($0, from: .a, epoch: 1, now: 30) }
        #expect(take(net, now: 1_000_011) == 1, "request 1 is due again")
        #expect(take(net, now: 1_000_012) == 3, "request 2 was answered")
        #expect(net.retransmissions == 1)
    }

    /// Negative control of the re-send (`Sabotage.noClientResend`): request 1 is never sent
    /// again, and it is counted unanswered.
    @Test("negative control: without re-sends an unanswered request stays unanswered, and is counted")
    func resendSabotaged() {
        let net = network(resend: false)
        #expect(take(net, now: 10) == 1)
        #expect(take(net, now: 5_000_000) == 2)
        #expect(net.retransmissions == 0)
        #expect(net.unanswered(sentBefore: 5_000_000) == 1)
    }

    @Test("the transport drops a duplicate reply; the application sees each reply once")
    func dedup() {
        let net = network()
        #expect(take(net, now: 10) == 1)
        for t in [UInt64(20), 30] { reply(1).withUnsafeBytes { net.deliver($0, from: .a, epoch: 1, now: t) } }
        #expect(net.duplicatesDropped == 1 && net.finalClient.duplicateReplies == 0)
    }

    /// Negative control of the deduplication (`Sabotage.noClientDedup`): the duplicate reaches
    /// the application, which counts it.
    @Test("negative control: without deduplication the application sees the duplicate, and counts it")
    func dedupSabotaged() {
        let net = network(dedup: false)
        #expect(take(net, now: 10) == 1)
        for t in [UInt64(20), 30] { reply(1).withUnsafeBytes { net.deliver($0, from: .a, epoch: 1, now: t) } }
        #expect(net.finalClient.duplicateReplies == 1)
    }

    @Test("replies from two sides in one epoch are reported; a stale epoch's are counted, not hidden")
    func owners() {
        let net = network()
        for seq in UInt64(1)...3 { #expect(take(net, now: seq * 10) == seq) }
        reply(1).withUnsafeBytes { net.deliver($0, from: .a, epoch: 1, now: 40) }
        net.claim(by: .b, epoch: 2)
        reply(2).withUnsafeBytes { net.deliver($0, from: .a, epoch: 1, now: 50) }
        #expect(net.staleReplies == 1 && net.epochsWithTwoOwners.isEmpty)
        reply(3).withUnsafeBytes { net.deliver($0, from: .a, epoch: 2, now: 60) }
        reply(3).withUnsafeBytes { net.deliver($0, from: .b, epoch: 2, now: 70) }
        #expect(net.epochsWithTwoOwners == [2])
    }

    @Test("a reply the survivor's history lacks is an output lost")
    func history() {
        let net = network()
        for seq in UInt64(1)...2 { #expect(take(net, now: seq * 10) == seq) }
        for seq in UInt64(1)...2 { reply(seq).withUnsafeBytes { net.deliver($0, from: .a, epoch: 1, now: 40 + seq) } }
        reply(1).withUnsafeBytes { net.noteReplayed($0, by: .b) }
        #expect(net.outputsMissingFromHistory(of: .b) == 1)
        #expect(net.outputsMissingFromHistory(of: .a) == 0)
    }
}
