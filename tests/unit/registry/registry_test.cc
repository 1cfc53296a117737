// Goal: the registry gives each actor at most one owner able to commit, whatever the timing:
// concurrent claimers get exactly one winner; a paused owner whose lease expired is fenced while the
// new owner commits; fencing tokens only increase; a node doubts its lease before the store can
// expire it (with clock drift either way); a restarted node id takes over its dead predecessor.
// Method: several registries on simulated nodes sharing one memory store over simulated links
// (sim::SimCluster), many seeds; the claim_without_check bug switch proves the claim test can fail.

#include "registry/registry.h"

#include <gtest/gtest.h>

#include "io/combinators.h"
#include "sim/cluster.h"

namespace kelpie::registry {
namespace {

const ActorId actor{"counter", "a"};

sim::SimClusterOptions cluster_options(size_t nodes, RegistryBugs bugs = {}) {
    sim::SimClusterOptions o;
    o.nodes = nodes;
    o.registry.lease_ttl = Duration::s(3);
    o.registry.safety_margin = Duration::ms(300);
    o.registry.bugs = bugs;
    o.link.delay_max = Duration::ms(5);
    return o;
}

// A fenced write: what every state commit of an activation does.
io::Task<Status> fenced_write(Registry* r, store::Store* s, Claim claim, std::string value) {
    auto t = s->begin();
    KELPIE_CO_TRY(co_await r->check_fence(*t, actor, claim));
    KELPIE_CO_TRY(t->set("state/" + actor.to_string(), value));
    KELPIE_CO_TRY(co_await t->commit());
    co_return ok_status();
}

// Every node claims `actor` at the same instant; returns how many claims succeeded.
size_t concurrent_claims(uint64_t seed, size_t nodes, RegistryBugs bugs, std::string* winner) {
    io::SimWorld world(io::SimWorldOptions{.seed = seed});
    sim::SimCluster cluster(world, cluster_options(nodes, bugs));
    EXPECT_TRUE(cluster.start_all().ok());
    std::vector<Result<Claim>> results(nodes, Error(ErrorCode::internal, "not run"));
    for (size_t i = 0; i < nodes; i++) {
        Registry* r = cluster.node(i).registry.get();
        io::spawn(*cluster.node(i).executor,
                  [](Registry* reg, Result<Claim>* out) -> io::Task<void> {
                      *out = co_await reg->claim(actor);
                  }(r, &results[i]));
    }
    world.run_for(Duration::s(1));
    size_t ok = 0;
    for (size_t i = 0; i < nodes; i++) {
        if (results[i].ok()) {
            ok++;
            *winner = cluster.node(i).registry->node_id();
        } else {
            EXPECT_EQ(results[i].code(), ErrorCode::not_owner) << results[i].error().to_string();
        }
    }
    if (ok == 1) {
        Result<std::optional<Placement>> p =
            cluster.run(0, cluster.node(0).registry->lookup(actor));
        EXPECT_TRUE(p.ok() && p->has_value());
        EXPECT_EQ((*p)->owner_node, *winner);
        EXPECT_EQ((*p)->fencing_token, 1u);
    }
    cluster.stop_all();
    return ok;
}

TEST(Registry, ConcurrentClaimersGetExactlyOneOwner) {
    for (uint64_t seed = 1; seed <= 40; seed++) {
        std::string winner;
        EXPECT_EQ(concurrent_claims(seed, 5, {}, &winner), 1u) << "seed " << seed;
    }
}

TEST(Registry, ClaimWithoutCheckBugGivesTwoOwners) {
    // The same test, with the TOCTOU claim switched on, must see several owners on some seed.
    size_t worst = 0;
    for (uint64_t seed = 1; seed <= 40 && worst < 2; seed++) {
        std::string winner;
        worst = std::max(worst, concurrent_claims(seed, 5, RegistryBugs{.claim_without_check = true},
                                                  &winner));
    }
    EXPECT_GE(worst, 2u);
}

TEST(Registry, PausedOwnerIsFencedAndNewOwnerCommits) {
    for (uint64_t seed = 1; seed <= 10; seed++) {
        io::SimWorld world(io::SimWorldOptions{.seed = seed});
        sim::SimCluster cluster(world, cluster_options(2));
        ASSERT_TRUE(cluster.start_all().ok());
        Registry& a = *cluster.node(0).registry;
        Registry& b = *cluster.node(1).registry;
        Result<Claim> first = cluster.run(0, a.claim(actor));
        ASSERT_TRUE(first.ok());
        EXPECT_TRUE(cluster.run(0, fenced_write(&a, cluster.node(0).link.get(), *first, "a1")).ok());

        // B cannot take it while A is alive.
        Result<Claim> refused = cluster.run(1, b.claim(actor));
        ASSERT_FALSE(refused.ok());
        EXPECT_EQ(refused.code(), ErrorCode::not_owner);

        // A freezes for three lease TTLs: the store expires its lease; B claims.
        cluster.node(0).executor->pause_for(Duration::s(9));
        world.run_for(Duration::s(5));
        Result<Claim> second = cluster.run(1, b.claim(actor));
        ASSERT_TRUE(second.ok()) << second.error().to_string();
        EXPECT_GT(second->fencing_token, first->fencing_token);

        // A wakes up: by its own reckoning the lease may be gone, and the store fences it.
        world.run_for(Duration::s(5));
        EXPECT_FALSE(a.lease_valid() && a.lease() == first->lease);
        Status zombie = cluster.run(0, fenced_write(&a, cluster.node(0).link.get(), *first, "a2"));
        ASSERT_FALSE(zombie.ok());
        EXPECT_EQ(zombie.code(), ErrorCode::fenced) << zombie.error().to_string();
        EXPECT_TRUE(cluster.run(1, fenced_write(&b, cluster.node(1).link.get(), *second, "b1")).ok());
        cluster.stop_all();
    }
}

TEST(Registry, CommitWithoutFenceBugLetsTheZombieWrite) {
    io::SimWorld world(io::SimWorldOptions{.seed = 3});
    sim::SimCluster cluster(world, cluster_options(2, RegistryBugs{.commit_without_fence = true}));
    ASSERT_TRUE(cluster.start_all().ok());
    Registry& a = *cluster.node(0).registry;
    Result<Claim> first = cluster.run(0, a.claim(actor));
    ASSERT_TRUE(first.ok());
    cluster.node(0).executor->pause_for(Duration::s(9));
    world.run_for(Duration::s(5));
    ASSERT_TRUE(cluster.run(1, cluster.node(1).registry->claim(actor)).ok());
    world.run_for(Duration::s(5));
    EXPECT_TRUE(cluster.run(0, fenced_write(&a, cluster.node(0).link.get(), *first, "zombie")).ok());
    cluster.stop_all();
}

TEST(Registry, FencingTokensStrictlyIncreaseAcrossOwners) {
    io::SimWorld world(io::SimWorldOptions{.seed = 11});
    sim::SimCluster cluster(world, cluster_options(3));
    ASSERT_TRUE(cluster.start_all().ok());
    uint64_t last = 0;
    for (int round = 0; round < 12; round++) {
        const size_t i = static_cast<size_t>(round) % 3;
        Registry& r = *cluster.node(i).registry;
        Result<Claim> c = cluster.run(i, r.claim(actor));
        ASSERT_TRUE(c.ok()) << c.error().to_string();
        EXPECT_GT(c->fencing_token, last);
        last = c->fencing_token;
        if (round % 4 != 3) {
            ASSERT_TRUE(cluster.run(i, r.release(actor, *c)).ok());
        } else {
            // Re-claiming while owning (a new activation on the same node) also moves the token.
            Result<Claim> again = cluster.run(i, r.claim(actor));
            ASSERT_TRUE(again.ok());
            EXPECT_GT(again->fencing_token, last);
            last = again->fencing_token;
            ASSERT_TRUE(cluster.run(i, r.release(actor, *again)).ok());
        }
        Result<std::optional<Placement>> p = cluster.run(i, r.lookup(actor));
        ASSERT_TRUE(p.ok() && p->has_value());
        EXPECT_EQ((*p)->fencing_token, last);  // release keeps the token
        EXPECT_TRUE((*p)->owner_node.empty());
    }
    cluster.stop_all();
}

// Cuts node 0 off from the store and returns (when it stopped trusting its lease, when the store
// deleted its node record), in world time.
std::pair<Instant, Instant> doubt_and_expiry(uint64_t seed, int64_t drift_ppm) {
    io::SimWorld world(io::SimWorldOptions{.seed = seed});
    sim::SimCluster cluster(world, cluster_options(1));
    cluster.node(0).executor->set_clock_drift_ppm(drift_ppm);
    EXPECT_TRUE(cluster.start_all().ok());
    world.run_for(Duration::s(2));
    Registry& r = *cluster.node(0).registry;
    cluster.node(0).link->set_partitioned(true);
    Instant doubted;
    Instant expired;
    for (int i = 0; i < 2000 && (doubted == Instant() || expired == Instant()); i++) {
        world.run_for(Duration::ms(5));
        if (doubted == Instant() && !r.lease_valid()) {
            doubted = world.now();
        }
        if (expired == Instant()) {
            auto t = cluster.store().begin();
            Result<std::optional<store::KeyValue>> rec =
                io::block_on(world, cluster.store_executor(), t->get(node_key(r.node_id())));
            if (rec.ok() && !rec->has_value()) {
                expired = world.now();
            }
        }
    }
    cluster.node(0).link->set_partitioned(false);
    cluster.stop_all();
    return {doubted, expired};
}

TEST(Registry, NodeDoubtsItsLeaseBeforeTheStoreExpiresIt) {
    // clock_drift_max_ppm is 1%: a node clock 0.9% slow or fast must still stop first.
    for (int64_t drift : {-9'000, 0, 9'000}) {
        for (uint64_t seed = 1; seed <= 5; seed++) {
            auto [doubted, expired] = doubt_and_expiry(seed, drift);
            ASSERT_NE(doubted, Instant()) << "drift " << drift;
            ASSERT_NE(expired, Instant()) << "drift " << drift;
            EXPECT_LT(doubted, expired) << "drift " << drift << " seed " << seed;
        }
    }
}

TEST(Registry, LeaseAfterExpiryBugKeepsTrustingADeadLease) {
    io::SimWorld world(io::SimWorldOptions{.seed = 2});
    sim::SimCluster cluster(world, cluster_options(1, RegistryBugs{.lease_after_expiry = true}));
    ASSERT_TRUE(cluster.start_all().ok());
    cluster.node(0).link->set_partitioned(true);
    world.run_for(Duration::s(10));  // far past the TTL: the store has expired the lease
    EXPECT_TRUE(cluster.node(0).registry->lease_valid());
    cluster.node(0).link->set_partitioned(false);
    cluster.stop_all();
}

TEST(Registry, LostLeaseIsReportedAndReRegistered) {
    io::SimWorld world(io::SimWorldOptions{.seed = 5});
    sim::SimCluster cluster(world, cluster_options(1));
    ASSERT_TRUE(cluster.start_all().ok());
    Registry& r = *cluster.node(0).registry;
    int losses = 0;
    r.on_lease_lost([&losses] { losses++; });
    const store::LeaseId before = r.lease();
    cluster.node(0).link->set_partitioned(true);
    world.run_for(Duration::s(6));
    EXPECT_EQ(losses, 1);
    EXPECT_FALSE(r.lease_valid());
    cluster.node(0).link->set_partitioned(false);
    world.run_for(Duration::s(6));
    EXPECT_TRUE(r.lease_valid());
    EXPECT_NE(r.lease(), before);
    EXPECT_EQ(r.incarnation(), 2u);
    cluster.stop_all();
}

TEST(Registry, RestartedNodeTakesOverFromItsDeadPredecessor) {
    io::SimWorld world(io::SimWorldOptions{.seed = 8});
    sim::SimCluster cluster(world, cluster_options(2));
    ASSERT_TRUE(cluster.start_all().ok());
    Result<Claim> old = cluster.run(0, cluster.node(0).registry->claim(actor));
    ASSERT_TRUE(old.ok());
    cluster.crash(0);
    ASSERT_TRUE(cluster.start(0).ok());  // same node id, immediately: revokes the old lease
    // The other node may claim at once (the dead incarnation's record is gone) ...
    Result<Claim> other = cluster.run(1, cluster.node(1).registry->claim(actor));
    ASSERT_TRUE(other.ok()) << other.error().to_string();
    EXPECT_GT(other->fencing_token, old->fencing_token);
    cluster.stop_all();
}

TEST(Registry, RejectsBadInput) {
    io::SimWorld world(io::SimWorldOptions{.seed = 1});
    sim::SimCluster cluster(world, cluster_options(1));
    ASSERT_TRUE(cluster.start_all().ok());
    Registry& r = *cluster.node(0).registry;
    EXPECT_EQ(cluster.run(0, r.claim(ActorId{"", "x"})).code(), ErrorCode::invalid_argument);
    EXPECT_EQ(cluster.run(0, r.claim(ActorId{"t", std::string(actor_name_bytes_max + 1, 'k')})).code(),
              ErrorCode::limit_exceeded);
    EXPECT_EQ(decode_placement("garbage").code(), ErrorCode::corruption);
    cluster.stop_all();

    io::SimWorld world2(io::SimWorldOptions{.seed = 1});
    sim::SimClusterOptions o = cluster_options(1);
    o.registry.safety_margin = Duration::s(3);  // as long as the TTL: nonsense
    sim::SimCluster bad(world2, o);
    EXPECT_EQ(bad.start(0).code(), ErrorCode::invalid_argument);
}

}  // namespace
}  // namespace kelpie::registry
