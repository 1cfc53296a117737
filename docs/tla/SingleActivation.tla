--------------------------- MODULE SingleActivation ---------------------------
(***************************************************************************)
(* Kelpie's single-activation protocol (DESIGN.md sections 5 and 7): node *)
(* leases with conservative local reckoning, placement records with       *)
(* fencing tokens, fenced state writes, and durable invocations with      *)
(* idempotency keys, a journal and replay on activation.                  *)
(*                                                                         *)
(* The store is one serializable transactional key-value store (see       *)
(* StoreTransactions.tla): every store action below is one atomic step.   *)
(* It holds, per node, the node record node/<n> -> lease attached to that *)
(* lease (`rec`, with the lease's remaining time `ttl`); per actor the     *)
(* placement placement/<a> -> {owner node, owner lease, fencing token}     *)
(* (`pl`, attached to no lease: it persists), the actor's state (`st`)    *)
(* and its journal of idempotency keys (`jr`).                            *)
(*                                                                         *)
(* TIME. Only differences of times matter, so the model keeps no absolute *)
(* clock: the store keeps each lease's remaining time, a node its local   *)
(* remaining validity `dl` and the local time elapsed since its keepalive *)
(* in flight was sent. This keeps the state space finite without a time   *)
(* bound, so liveness can be checked. Tick is one unit of store time: the *)
(* store's leases lose 1 (a lease that reaches 0 is expired and its node  *)
(* record deleted in the same step: the earliest the store may do it, the *)
(* worst case for safety). Each node's local clock advances 0, 1 or 2 in  *)
(* the same tick, subject to `off[n]` (local minus store time, minus a    *)
(* constant skew that no reckoning uses) staying in 0..Drift. So over any *)
(* interval a local clock gains or loses at most Drift units on the       *)
(* store's: Drift stands for TTL * drift_max, the most a clock drifting   *)
(* at rate <= drift_max deviates over one lease period. (The model also   *)
(* bounds longer intervals; no reckoning spans more than a lease period,  *)
(* because a node is invalid once TTL - Drift local units have passed.)   *)
(*                                                                         *)
(* LEASES. Register grants a new lease (a new incarnation: leases are     *)
(* <<n, i>>, `incs[n]` counts them, at most MaxInc per node) and writes   *)
(* the node record attached to it, in one step. A keepalive is sent and   *)
(* processed in one step (processing at the sending instant gives the     *)
(* earliest store expiry, the worst case; a later processing only extends *)
(* the lease); the store restarts the TTL if the lease is alive, else the *)
(* reply says expired. The reply arrives later, after any number of ticks *)
(* (`ka[n]` = local time elapsed since the send): the node then believes  *)
(* its lease valid for Life = TTL - DriftMax - Margin local units from the *)
(* SEND, i.e. for Life - ka[n] more (`dl[n]`). A reply "expired" makes it *)
(* drop every activation and forget its lease; it then registers again.   *)
(* DriftMax is the drift the node assumes; Drift the clocks' real bound.  *)
(*                                                                         *)
(* PAUSE. A node is paused when it takes no steps while Tick steps occur; *)
(* interleaving already allows any node to be paused for any number of    *)
(* ticks at any point, e.g. between deciding to commit and the commit     *)
(* reaching the store (a zombie), so no pause flag is needed for safety.  *)
(* For liveness, fairness means pauses are finite; a node paused forever  *)
(* looks to everyone else like a crashed one (below).                     *)
(*                                                                         *)
(* CRASH. Crash loses the node's memory (activations, turns in progress,  *)
(* its lease id, keepalive in flight); the store keeps everything. The    *)
(* node restarts by registering a new lease, which overwrites its node    *)
(* record: a placement naming the old lease is then claimable at once. A  *)
(* crash of a node with no incarnation left is permanent. A node id is    *)
(* never run by two processes at once.                                    *)
(*                                                                         *)
(* ACTIVATION. Claim is one transaction: the claimer's own record must    *)
(* name its current lease; the placement must name no owner, or an owner *)
(* whose node record is absent or names another lease; it writes          *)
(* {me, my lease, token + 1} and loads the state. The activation first    *)
(* recovers (replays every pending journal entry, one at a time), then    *)
(* serves new invocations. Release (clean deactivation) clears the owner  *)
(* but keeps the token. A node accepts turns, replays and claims only     *)
(* while its reckoning says its lease is valid (`Valid`); a commit, once  *)
(* decided, may reach the store at any later time, so Complete is not     *)
(* gated by the reckoning: fencing is what stops a late commit.           *)
(*                                                                         *)
(* TURNS. Accept (fenced): journal[K] absent -> pending (done: the stored *)
(* result is returned and nothing changes, a stuttering step, omitted;    *)
(* pending: only the running turn can hold it, so nothing to do). The     *)
(* actor's method runs locally (merged into the next step: a crash before *)
(* or after a local computation leaves the store the same). Complete      *)
(* (fenced): new state AND journal[K] = done in one transaction. The      *)
(* actor's state is a counter per idempotency key: how many times its     *)
(* effect was applied. Every fenced transaction that finds the placement  *)
(* no longer naming (me, my lease, my token) fails with `fenced` and the  *)
(* activation shuts down (DetectFenced).                                  *)
(*                                                                         *)
(* Bug switches (all FALSE in the safe configurations):                   *)
(*   ClaimWithoutCheck     claim ignores the owner's node record.         *)
(*   CommitWithoutFence    the complete transaction skips the placement   *)
(*                         check.                                         *)
(*   LeaseAfterExpiry      no reckoning: a node accepts turns until a     *)
(*                         keepalive reply tells it the lease expired.    *)
(*   IdempotencyNotAtomic  the state write and journal[K] = done are two  *)
(*                         transactions (a crash may fall in between).    *)
(*   NoRecovery            an activation serves at once, without          *)
(*                         replaying pending journal entries.             *)
(* DriftMax < Drift is a sixth bug: the reckoning underestimates drift.   *)
(***************************************************************************)
EXTENDS Integers, FiniteSets, Sequences, TLC

CONSTANTS
    Nodes,          \* e.g. {n1, n2}
    Actors,         \* e.g. {a1}
    Keys,           \* idempotency keys, e.g. {k1, k2}
    None,           \* model value: no owner / no turn
    TTL,            \* lease TTL, in store time units
    Drift,          \* most a local clock gains or loses on the store's over a lease period
    DriftMax,       \* the drift the node's reckoning allows for (safe: = Drift)
    Margin,         \* extra safety margin of the reckoning (local units)
    MaxInc,         \* leases (incarnations) per node
    MaxReleases,    \* releases happen only while the token is <= MaxReleases
    ClaimWithoutCheck, CommitWithoutFence, LeaseAfterExpiry,
    IdempotencyNotAtomic, NoRecovery

ASSUME /\ {ClaimWithoutCheck, CommitWithoutFence, LeaseAfterExpiry,
           IdempotencyNotAtomic, NoRecovery} \subseteq BOOLEAN
       /\ TTL \in Nat /\ Drift \in Nat /\ DriftMax \in Nat /\ Margin \in Nat
       /\ MaxInc \in Nat \ {0} /\ MaxReleases \in Nat
       /\ None \notin Nodes \cup Keys

\* Local time a node may count on after sending a keepalive that succeeds.
Life == TTL - DriftMax - Margin
ASSUME Life >= 1

\* Tokens: 1 for the first claim, then each claim needs a release (at most
\* MaxReleases) or the death of the owner's lease (at most one per lease).
TokBound == 1 + MaxReleases + Cardinality(Nodes) * MaxInc

KaNone == -1        \* no keepalive reply in flight
KaExpired == -2     \* reply in flight: "lease expired"
Zero == [k \in Keys |-> 0]
Min(x, y) == IF x < y THEN x ELSE y
Max(x, y) == IF x > y THEN x ELSE y

VARIABLES
    \* the store (durable)
    rec,     \* rec[n]: incarnation named by node/<n>, 0 = absent
    ttl,     \* ttl[n]: store time left on that lease (0 when absent)
    incs,    \* incs[n]: leases granted to n so far
    pl,      \* pl[a] = [node, lease, tok]: placement/<a>
    st,      \* st[a][k]: times key k's effect was applied to a's state
    jr,      \* jr[a][k]: journal entry, "absent" | "pending" | "done"
    \* each node (lost on crash)
    lease,   \* lease[n]: the incarnation the node holds, 0 = none
    dl,      \* dl[n]: local time left before the lease may have expired
    off,     \* off[n]: local clock minus store clock (minus a constant skew)
    ka,      \* ka[n]: keepalive reply in flight: local time since send, or KaNone / KaExpired
    act,     \* act[n][a]: "none" | "recovering" | "active"
    tok,     \* tok[n][a]: the activation's fencing token (0 when none)
    turn,    \* turn[n][a]: key of the turn in progress, or None
    half,    \* half[n][a]: IdempotencyNotAtomic: state written, journal not yet
    mem,     \* mem[n][a]: the activation's in-memory state
    \* ghost
    whist    \* whist[a]: every applied state write, in order, with the placement at that moment

storeVars == <<rec, ttl, incs, pl, st, jr>>
nodeVars == <<lease, dl, off, ka, act, tok, turn, half, mem>>
vars == <<rec, ttl, incs, pl, st, jr, lease, dl, off, ka, act, tok, turn, half, mem, whist>>

Placement(n, l, t) == [node |-> n, lease |-> l, tok |-> t]

\* The node's own reckoning: may it accept a turn now?
Valid(n) == IF LeaseAfterExpiry THEN lease[n] # 0 ELSE dl[n] > 0

\* Does the placement name this activation (node, lease, token)? Every fenced
\* transaction requires it.
OwnerIs(n, a) == pl[a] = Placement(n, lease[n], tok[n][a])

-----------------------------------------------------------------------------
Init ==
    /\ rec = [n \in Nodes |-> 0]
    /\ ttl = [n \in Nodes |-> 0]
    /\ incs = [n \in Nodes |-> 0]
    /\ pl = [a \in Actors |-> Placement(None, 0, 0)]
    /\ st = [a \in Actors |-> Zero]
    /\ jr = [a \in Actors |-> [k \in Keys |-> "absent"]]
    /\ lease = [n \in Nodes |-> 0]
    /\ dl = [n \in Nodes |-> 0]
    /\ off \in [Nodes -> 0..Drift]
    /\ ka = [n \in Nodes |-> KaNone]
    /\ act = [n \in Nodes |-> [a \in Actors |-> "none"]]
    /\ tok = [n \in Nodes |-> [a \in Actors |-> 0]]
    /\ turn = [n \in Nodes |-> [a \in Actors |-> None]]
    /\ half = [n \in Nodes |-> [a \in Actors |-> FALSE]]
    /\ mem = [n \in Nodes |-> [a \in Actors |-> Zero]]
    /\ whist = [a \in Actors |-> <<>>]

\* The process forgets everything (crash, or lease found expired).
Reset(n) ==
    /\ lease' = [lease EXCEPT ![n] = 0]
    /\ dl' = [dl EXCEPT ![n] = 0]
    /\ ka' = [ka EXCEPT ![n] = KaNone]
    /\ act' = [act EXCEPT ![n] = [a \in Actors |-> "none"]]
    /\ tok' = [tok EXCEPT ![n] = [a \in Actors |-> 0]]
    /\ turn' = [turn EXCEPT ![n] = [a \in Actors |-> None]]
    /\ half' = [half EXCEPT ![n] = [a \in Actors |-> FALSE]]
    /\ mem' = [mem EXCEPT ![n] = [a \in Actors |-> Zero]]
    /\ UNCHANGED off

\* One activation shuts down.
Drop(n, a) ==
    /\ act' = [act EXCEPT ![n][a] = "none"]
    /\ tok' = [tok EXCEPT ![n][a] = 0]
    /\ turn' = [turn EXCEPT ![n][a] = None]
    /\ half' = [half EXCEPT ![n][a] = FALSE]
    /\ mem' = [mem EXCEPT ![n][a] = Zero]
    /\ UNCHANGED <<lease, dl, off, ka>>

-----------------------------------------------------------------------------
(* Time *)

\* One unit of store time. Each local clock advances d[n] in 0..2 with the
\* drift offset kept in 0..Drift. Leases that run out expire and their node
\* records are deleted in this step.
Tick ==
    /\ \E d \in [Nodes -> 0..2] :
         /\ \A n \in Nodes : off[n] + d[n] - 1 \in 0..Drift
         /\ off' = [n \in Nodes |-> off[n] + d[n] - 1]
         /\ dl' = [n \in Nodes |-> Max(0, dl[n] - d[n])]
         /\ ka' = [n \in Nodes |-> IF ka[n] >= 0 THEN Min(Life, ka[n] + d[n])
                                                  ELSE ka[n]]
    /\ ttl' = [n \in Nodes |-> Max(0, ttl[n] - 1)]
    /\ rec' = [n \in Nodes |-> IF ttl[n] <= 1 THEN 0 ELSE rec[n]]
    /\ UNCHANGED <<incs, pl, st, jr, lease, act, tok, turn, half, mem, whist>>

-----------------------------------------------------------------------------
(* Node lease *)

\* (Re)start: grant a new lease and write the node record attached to it. The
\* node reckons from the grant request, like a keepalive.
Register(n) ==
    /\ lease[n] = 0
    /\ incs[n] < MaxInc
    /\ incs' = [incs EXCEPT ![n] = @ + 1]
    /\ rec' = [rec EXCEPT ![n] = incs[n] + 1]
    /\ ttl' = [ttl EXCEPT ![n] = TTL]
    /\ lease' = [lease EXCEPT ![n] = incs[n] + 1]
    /\ dl' = [dl EXCEPT ![n] = Life]
    /\ UNCHANGED <<pl, st, jr, off, ka, act, tok, turn, half, mem, whist>>

\* Send a keepalive; the store processes it at once (the worst case). A lease
\* is alive exactly while the node record names it.
SendKeepalive(n) ==
    /\ lease[n] # 0
    /\ ka[n] = KaNone
    /\ IF rec[n] = lease[n]
         THEN /\ ttl' = [ttl EXCEPT ![n] = TTL]
              /\ ka' = [ka EXCEPT ![n] = 0]
         ELSE /\ ka' = [ka EXCEPT ![n] = KaExpired]
              /\ UNCHANGED ttl
    /\ UNCHANGED <<rec, incs, pl, st, jr, lease, dl, off, act, tok, turn, half, mem, whist>>

\* The reply arrives. Success: valid until Life local units after the SEND.
\* Expired: drop every activation and forget the lease (register again next).
ReceiveReply(n) ==
    /\ ka[n] # KaNone
    /\ IF ka[n] = KaExpired
         THEN Reset(n)
         ELSE /\ dl' = [dl EXCEPT ![n] = Life - ka[n]]
              /\ ka' = [ka EXCEPT ![n] = KaNone]
              /\ UNCHANGED <<lease, off, act, tok, turn, half, mem>>
    /\ UNCHANGED <<rec, ttl, incs, pl, st, jr, whist>>

\* The process dies; the store keeps everything, the lease runs out.
Crash(n) ==
    /\ lease[n] # 0
    /\ Reset(n)
    /\ UNCHANGED <<rec, ttl, incs, pl, st, jr, whist>>

-----------------------------------------------------------------------------
(* Placement *)

\* May the placement be taken over: no owner, or the owner's incarnation is
\* dead (its node record is absent or names another lease)?
Claimable(a) ==
    IF pl[a].node = None THEN TRUE
    ELSE rec[pl[a].node] # pl[a].lease \/ ClaimWithoutCheck

\* One transaction: my record names my lease, the placement is claimable;
\* write {me, my lease, token + 1} and load the state.
Claim(n, a) ==
    /\ lease[n] # 0
    /\ Valid(n)
    /\ act[n][a] = "none"
    /\ rec[n] = lease[n]
    /\ Claimable(a)
    /\ pl' = [pl EXCEPT ![a] = Placement(n, lease[n], pl[a].tok + 1)]
    /\ tok' = [tok EXCEPT ![n][a] = pl[a].tok + 1]
    /\ act' = [act EXCEPT ![n][a] = IF NoRecovery THEN "active" ELSE "recovering"]
    /\ mem' = [mem EXCEPT ![n][a] = st[a]]
    /\ UNCHANGED <<rec, ttl, incs, st, jr, lease, dl, off, ka, turn, half, whist>>

\* Clean deactivation: if the placement still names me, clear the owner and
\* keep the token (the next claim increments it).
Release(n, a) ==
    /\ act[n][a] = "active"
    /\ turn[n][a] = None
    /\ OwnerIs(n, a)
    /\ pl[a].tok <= MaxReleases
    /\ pl' = [pl EXCEPT ![a] = Placement(None, 0, pl[a].tok)]
    /\ Drop(n, a)
    /\ UNCHANGED <<rec, ttl, incs, st, jr, whist>>

\* A fenced transaction of this activation fails: the placement no longer
\* names it. The activation shuts down.
DetectFenced(n, a) ==
    /\ act[n][a] # "none"
    /\ ~OwnerIs(n, a)
    /\ Drop(n, a)
    /\ UNCHANGED <<rec, ttl, incs, pl, st, jr, whist>>

-----------------------------------------------------------------------------
(* Turns and durable invocations *)

\* Accept transaction (fenced), for a new invocation with key k:
\* journal[k] absent -> pending, and the turn starts.
Accept(n, a, k) ==
    /\ act[n][a] = "active"
    /\ turn[n][a] = None
    /\ Valid(n)
    /\ OwnerIs(n, a)
    /\ jr[a][k] = "absent"
    /\ jr' = [jr EXCEPT ![a][k] = "pending"]
    /\ turn' = [turn EXCEPT ![n][a] = k]
    /\ UNCHANGED <<rec, ttl, incs, pl, st, lease, dl, off, ka, act, tok, half, mem, whist>>

\* Recovery, before serving: replay a pending entry (its turn starts), or,
\* when none is left, start serving. The journal read is fenced.
RecoverStep(n, a) ==
    /\ act[n][a] = "recovering"
    /\ turn[n][a] = None
    /\ Valid(n)
    /\ OwnerIs(n, a)
    /\ IF \E k \in Keys : jr[a][k] = "pending"
         THEN /\ \E k \in Keys : jr[a][k] = "pending" /\ turn' = [turn EXCEPT ![n][a] = k]
              /\ UNCHANGED act
         ELSE /\ act' = [act EXCEPT ![n][a] = "active"]
              /\ UNCHANGED turn
    /\ UNCHANGED <<rec, ttl, incs, pl, st, jr, lease, dl, off, ka, tok, half, mem, whist>>

\* Complete transaction (fenced unless CommitWithoutFence): run the method
\* (apply k's effect to the in-memory state), write the new state and, in the
\* same transaction, journal[k] = done. Not gated by the reckoning: the
\* commit may have been sent while the lease was valid and arrive any time.
Complete(n, a) ==
    /\ turn[n][a] # None
    /\ ~half[n][a]
    /\ OwnerIs(n, a) \/ CommitWithoutFence
    /\ LET k == turn[n][a]
           new == [mem[n][a] EXCEPT ![k] = Min(2, @ + 1)]
       IN /\ st' = [st EXCEPT ![a] = new]
          /\ mem' = [mem EXCEPT ![n][a] = new]
          /\ whist' = [whist EXCEPT ![a] =
                         Append(@, [node |-> n, lease |-> lease[n], tok |-> tok[n][a],
                                    pl |-> pl[a]])]
          /\ IF IdempotencyNotAtomic
               THEN /\ half' = [half EXCEPT ![n][a] = TRUE]
                    /\ UNCHANGED <<jr, turn>>
               ELSE /\ jr' = [jr EXCEPT ![a][k] = "done"]
                    /\ turn' = [turn EXCEPT ![n][a] = None]
                    /\ UNCHANGED half
    /\ UNCHANGED <<rec, ttl, incs, pl, lease, dl, off, ka, act, tok>>

\* IdempotencyNotAtomic only: the second transaction, journal[k] = done.
CompleteJournal(n, a) ==
    /\ half[n][a]
    /\ OwnerIs(n, a) \/ CommitWithoutFence
    /\ jr' = [jr EXCEPT ![a][turn[n][a]] = "done"]
    /\ turn' = [turn EXCEPT ![n][a] = None]
    /\ half' = [half EXCEPT ![n][a] = FALSE]
    /\ UNCHANGED <<rec, ttl, incs, pl, st, lease, dl, off, ka, act, tok, mem, whist>>

-----------------------------------------------------------------------------
NodeNext(n) ==
    \/ Register(n)
    \/ SendKeepalive(n)
    \/ ReceiveReply(n)
    \/ Crash(n)
    \/ \E a \in Actors :
         \/ Claim(n, a)
         \/ Release(n, a)
         \/ DetectFenced(n, a)
         \/ \E k \in Keys : Accept(n, a, k)
         \/ RecoverStep(n, a)
         \/ Complete(n, a)
         \/ CompleteJournal(n, a)

Next == Tick \/ \E n \in Nodes : NodeNext(n)

Spec == Init /\ [][Next]_vars

\* Fairness for RecoveryComplete. Time passes; every node eventually takes
\* each step that stays enabled (pauses are finite). Strong fairness where the
\* step is enabled only now and then: a fresh keepalive reply (received before
\* any tick), and claims and replays (enabled only while the reckoning is
\* valid). Crash, Release and Accept (clients) are never forced.
Fairness ==
    /\ WF_vars(Tick)
    /\ \A n \in Nodes :
         /\ WF_vars(Register(n))
         /\ WF_vars(SendKeepalive(n))
         /\ WF_vars(ReceiveReply(n))
         /\ SF_vars(ka[n] = 0 /\ ReceiveReply(n))
    /\ \A n \in Nodes, a \in Actors :
         /\ SF_vars(Claim(n, a))
         /\ SF_vars(RecoverStep(n, a))
         /\ WF_vars(Complete(n, a))
         /\ WF_vars(CompleteJournal(n, a))
         /\ WF_vars(DetectFenced(n, a))

LiveSpec == Spec /\ Fairness

Symmetry == Permutations(Nodes) \cup Permutations(Keys)

-----------------------------------------------------------------------------
(* Invariants *)

PlacementRec == [node: Nodes \cup {None}, lease: 0..MaxInc, tok: 0..TokBound]
WriteRec == [node: Nodes, lease: 0..MaxInc, tok: 0..TokBound, pl: PlacementRec]

TypeOK ==
    /\ rec \in [Nodes -> 0..MaxInc]
    /\ ttl \in [Nodes -> 0..TTL]
    /\ incs \in [Nodes -> 0..MaxInc]
    /\ pl \in [Actors -> PlacementRec]
    /\ st \in [Actors -> [Keys -> 0..2]]
    /\ jr \in [Actors -> [Keys -> {"absent", "pending", "done"}]]
    /\ lease \in [Nodes -> 0..MaxInc]
    /\ dl \in [Nodes -> 0..Life]
    /\ off \in [Nodes -> 0..Drift]
    /\ ka \in [Nodes -> {KaNone, KaExpired} \cup 0..Life]
    /\ act \in [Nodes -> [Actors -> {"none", "recovering", "active"}]]
    /\ tok \in [Nodes -> [Actors -> 0..TokBound]]
    /\ turn \in [Nodes -> [Actors -> Keys \cup {None}]]
    /\ half \in [Nodes -> [Actors -> BOOLEAN]]
    /\ mem \in [Nodes -> [Actors -> [Keys -> 0..2]]]
    /\ \A a \in Actors : \A i \in DOMAIN whist[a] : whist[a][i] \in WriteRec

\* Can n accept a turn of a now: it has a activated (recovering or active) and
\* its own reckoning says its lease is valid.
CanAccept(n, a) == act[n][a] # "none" /\ Valid(n)

\* At most one node can accept turns of an actor at any instant.
SingleActivation ==
    \A a \in Actors : Cardinality({n \in Nodes : CanAccept(n, a)}) <= 1

\* Every applied state write was made by the activation (node, lease, token)
\* the placement named at that moment, and the tokens of applied writes never
\* decrease.
SingleWriter ==
    \A a \in Actors :
        /\ \A i \in DOMAIN whist[a] :
             whist[a][i].pl = Placement(whist[a][i].node, whist[a][i].lease, whist[a][i].tok)
        /\ \A i, j \in DOMAIN whist[a] : i < j => whist[a][i].tok <= whist[a][j].tok

\* Each idempotency key's effect is applied to the actor's state at most once.
IdempotentOnce == \A a \in Actors, k \in Keys : st[a][k] <= 1

\* Stronger (exactly once, atomically): a key's effect is in the state exactly
\* when its journal entry is done.
JournalMatchesState ==
    \A a \in Actors, k \in Keys : (st[a][k] >= 1) <=> (jr[a][k] = "done")

\* An activation that serves new invocations has no pending journal entry
\* except the one its own turn is running (recovery finished first).
RecoveredBeforeServing ==
    \A n \in Nodes, a \in Actors :
        act[n][a] = "active" /\ OwnerIs(n, a) =>
            \A k \in Keys : jr[a][k] = "pending" => turn[n][a] = k

(* Temporal properties *)

\* The placement's token never decreases, and every change to a new owner
\* (node, lease) strictly increases it. (Release clears the owner and keeps the
\* token; the next claim increments it.)
FencingTokensIncrease ==
    [][\A a \in Actors :
         /\ pl'[a].tok >= pl[a].tok
         /\ (pl'[a].node # None /\ <<pl'[a].node, pl'[a].lease>> # <<pl[a].node, pl[a].lease>>)
              => pl'[a].tok > pl[a].tok]_vars

\* No node left: every node has used all its incarnations and holds no lease.
AllDead == \A n \in Nodes : lease[n] = 0 /\ incs[n] = MaxInc

\* Liveness (under LiveSpec): every accepted invocation whose journal entry is
\* pending eventually completes, unless every node dies for good. (Nodes crash
\* or lose leases only finitely often: MaxInc incarnations each.)
RecoveryComplete ==
    \A a \in Actors, k \in Keys : (jr[a][k] = "pending") ~> (jr[a][k] = "done" \/ AllDead)
=============================================================================
