--------------------------- MODULE StoreTransactions ---------------------------
(***************************************************************************)
(* Kelpie's store: serializable optimistic transactions (FoundationDB's   *)
(* model) on an ordered key-value store with revisions (etcd's model).    *)
(* See src/store/store.h for the contract this specifies.                 *)
(*                                                                         *)
(* The store has a revision counter `rev` and, per key, a value and a     *)
(* mod_revision (the revision of the last commit that wrote the key; 0    *)
(* while the key is absent). `hist` keeps the state at every revision     *)
(* (MVCC), `log` the write set of every commit (the resolver's history).  *)
(*                                                                         *)
(* A transaction takes its snapshot revision at its first read, reads at  *)
(* that snapshot, buffers writes (set or clear) and reads its own writes  *)
(* (a key it has written is answered from the buffer and is not added to  *)
(* its read set). Commit is one atomic step: if CheckReads, it fails with *)
(* `conflict` when the resolver says a key it read (point reads, plus     *)
(* every key of every range it read, including keys absent at the         *)
(* snapshot: phantoms) changed after its snapshot; otherwise it applies   *)
(* all buffered writes at revision rev + 1. A transaction without writes  *)
(* commits trivially (nothing checked, nothing applied, rev unchanged).   *)
(* With UnknownResult, a commit may also end in `unknown_result`: the     *)
(* client does not learn whether it applied (either is possible).         *)
(* The etcd backend may also commit several transactions in one step (a   *)
(* batch: one etcd Txn holding each as a nested Txn with its own          *)
(* compares): every compare is evaluated against the state before the     *)
(* batch, and the writes of those that pass are applied together at       *)
(* revision rev + 1, which they share.                                    *)
(*                                                                         *)
(* Constants chosen by the .cfg files:                                    *)
(*   CheckReads    FALSE: commit skips the read check (the bug class      *)
(*                 "claim without version check" / lost update).          *)
(*   Resolver      how a commit decides "changed since the snapshot":     *)
(*     "history"       a commit with revision > snap wrote (set or clear)  *)
(*                     a key in the read set (FoundationDB's resolver;    *)
(*                     the local store's ConflictHistory).                *)
(*     "modrev"        mod_revision compares (what an etcd Txn can do):   *)
(*                     every key observed (point or range) still has the  *)
(*                     mod_revision it had at snap (0 if absent), and no  *)
(*                     key now present in a range read has mod > snap.    *)
(*     "modrev_lt"     BUGGY: only "every key now present in the read set  *)
(*                     has mod_revision <= snap". A key deleted after the  *)
(*                     snapshot is absent now and compares as mod 0, so   *)
(*                     the deletion is missed.                            *)
(*     "observed_only" BUGGY: like "modrev", but a range only checks the   *)
(*                     keys it returned: a key inserted into the range    *)
(*                     after the snapshot (a phantom) is missed.          *)
(*   Workload      "generic": transactions read/write/clear anything.     *)
(*                 "bank": each key is an account (absent = balance 0);   *)
(*                 a transaction reads accounts and may move 1 from one   *)
(*                 it read to another it read (writing both; an account   *)
(*                 that reaches 0 is cleared).                            *)
(*   Funded        keys present (value 1) before any transaction runs,    *)
(*                 written by a genesis commit at revision 1.             *)
(*   Batching      "none": one commit per step.                           *)
(*                 "independent": batches of commits of which none writes  *)
(*                 a key another reads or writes (the etcd backend).      *)
(*                 "any": BUGGY, batches only keep writes apart (what etcd *)
(*                 itself demands): write skew slips through.             *)
(***************************************************************************)
EXTENDS Integers, FiniteSets, Sequences, TLC

CONSTANTS
    Keys,           \* e.g. {k1, k2}
    Values,         \* values a generic transaction may set, e.g. {1, 2}
    Txns,           \* transaction attempts, e.g. {t1, t2, t3}
    Funded,         \* subset of Keys holding 1 at the start
    NoValue,        \* model value: key absent
    None,           \* model value: key not written (buffer / log entry)
    NotRead,        \* model value: key not observed from the snapshot
    CheckReads,     \* BOOLEAN
    Resolver,       \* "history" | "modrev" | "modrev_lt" | "observed_only"
    Workload,       \* "generic" | "bank"
    UnknownResult,  \* BOOLEAN: model commits whose outcome the client never learns
    Batching        \* "none" | "independent" | "any"

ASSUME CheckReads \in BOOLEAN /\ UnknownResult \in BOOLEAN
ASSUME Resolver \in {"history", "modrev", "modrev_lt", "observed_only"}
ASSUME Workload \in {"generic", "bank"}
ASSUME Batching \in {"none", "independent", "any"}
ASSUME Funded \subseteq Keys /\ Values \subseteq (Nat \ {0})

VARIABLES
    rev,      \* the store revision
    hist,     \* hist[r + 1] = [k |-> [val, mod]]: the store as of revision r
    log,      \* log[r] = [k |-> value, NoValue (cleared) or None]: commit r's writes
    snap,     \* snap[t]: snapshot revision, -1 until the first read (or commit)
    rdv,      \* rdv[t][k]: the value t observed for k at its snapshot, or NotRead
    pts,      \* pts[t]: keys t point-read from the snapshot
    rng,      \* rng[t]: keys covered by t's range reads (the range = all Keys)
    wbuf,     \* wbuf[t][k]: buffered write (a value, NoValue = clear) or None
    phase,    \* "active" | "committed" | "conflict" | "unknown"
    applied,  \* ghost: t's writes reached the store (also for "unknown")
    crev      \* ghost: the revision t's writes were applied at, 0 if none

vars == <<rev, hist, log, snap, rdv, pts, rng, wbuf, phase, applied, crev>>

Val == Values \cup {NoValue}
Record == [val: (Nat \ {0}) \cup {NoValue}, mod: Nat]

At(r) == hist[r + 1]            \* the store as of revision r
Cur == At(rev)                  \* the store now

Empty == [k \in Keys |-> [val |-> NoValue, mod |-> 0]]
Genesis == [k \in Keys |-> IF k \in Funded THEN [val |-> 1, mod |-> 1]
                                             ELSE [val |-> NoValue, mod |-> 0]]
Total == Cardinality(Funded)    \* bank: the money in the system

Balance(v) == IF v = NoValue THEN 0 ELSE v
RECURSIVE SumOver(_, _)
SumOver(S, s) == IF S = {} THEN 0
                 ELSE LET k == CHOOSE k \in S : TRUE
                      IN Balance(s[k].val) + SumOver(S \ {k}, s)

HasWrites(t) == \E k \in Keys : wbuf[t][k] # None
ReadKeys(t) == pts[t] \cup rng[t]      \* the read set used for conflicts
WriteKeys(t) == {k \in Keys : wbuf[t][k] # None}
\* Neither writes a key the other reads or writes (etcd's can_share_batch).
Independent(t, u) ==
    /\ WriteKeys(t) \cap (ReadKeys(u) \cup WriteKeys(u)) = {}
    /\ WriteKeys(u) \cap ReadKeys(t) = {}
SnapOf(t) == IF snap[t] = -1 THEN rev ELSE snap[t]

-----------------------------------------------------------------------------
Init ==
    /\ IF Funded = {}
         THEN /\ rev = 0
              /\ hist = <<Empty>>
              /\ log = <<>>
         ELSE /\ rev = 1
              /\ hist = <<Empty, Genesis>>
              /\ log = <<[k \in Keys |-> IF k \in Funded THEN 1 ELSE None]>>
    /\ snap = [t \in Txns |-> -1]
    /\ rdv = [t \in Txns |-> [k \in Keys |-> NotRead]]
    /\ pts = [t \in Txns |-> {}]
    /\ rng = [t \in Txns |-> {}]
    /\ wbuf = [t \in Txns |-> [k \in Keys |-> None]]
    /\ phase = [t \in Txns |-> "active"]
    /\ applied = [t \in Txns |-> FALSE]
    /\ crev = [t \in Txns |-> 0]

StoreUnchanged == UNCHANGED <<rev, hist, log>>

\* Point read of k at the snapshot (taken now if this is the first read). A key
\* already buffered is answered from the buffer (no step, no read-set entry);
\* a key already observed answers the same value again (no step).
Read(t, k) ==
    /\ phase[t] = "active"
    /\ rdv[t][k] = NotRead
    /\ wbuf[t][k] = None
    /\ LET s == SnapOf(t) IN
         /\ snap' = [snap EXCEPT ![t] = s]
         /\ rdv' = [rdv EXCEPT ![t][k] = At(s)[k].val]
    /\ pts' = [pts EXCEPT ![t] = @ \cup {k}]
    /\ UNCHANGED <<rng, wbuf, phase, applied, crev>> /\ StoreUnchanged

\* Range read of all Keys at the snapshot. Every key of the range joins the read
\* set, present or not (phantoms). Keys buffered by t are answered from the
\* buffer, so t observes only the others.
RangeRead(t) ==
    /\ phase[t] = "active"
    /\ rng[t] = {}
    /\ LET s == SnapOf(t) IN
         /\ snap' = [snap EXCEPT ![t] = s]
         /\ rdv' = [rdv EXCEPT ![t] = [k \in Keys |->
                       IF rdv[t][k] = NotRead /\ wbuf[t][k] = None
                         THEN At(s)[k].val ELSE rdv[t][k]]]
    /\ rng' = [rng EXCEPT ![t] = Keys]
    /\ UNCHANGED <<pts, wbuf, phase, applied, crev>> /\ StoreUnchanged

\* Generic workload: set k to v, or clear it (v = NoValue). Only the last write
\* to a key matters at commit, so each key is written at most once.
Write(t, k, v) ==
    /\ Workload = "generic"
    /\ phase[t] = "active"
    /\ wbuf[t][k] = None
    /\ wbuf' = [wbuf EXCEPT ![t][k] = v]
    /\ UNCHANGED <<snap, rdv, pts, rng, phase, applied, crev>> /\ StoreUnchanged

\* Bank workload: move 1 from account a to account b, both read by t.
Transfer(t, a, b) ==
    /\ Workload = "bank"
    /\ phase[t] = "active"
    /\ a # b
    /\ rdv[t][a] # NotRead /\ rdv[t][b] # NotRead
    /\ ~HasWrites(t)
    /\ Balance(rdv[t][a]) >= 1
    /\ wbuf' = [wbuf EXCEPT ![t][a] = IF Balance(rdv[t][a]) = 1 THEN NoValue
                                      ELSE Balance(rdv[t][a]) - 1,
                            ![t][b] = Balance(rdv[t][b]) + 1]
    /\ UNCHANGED <<snap, rdv, pts, rng, phase, applied, crev>> /\ StoreUnchanged

\* Was a key in t's read set changed after snapshot s, as the resolver sees it?
WrittenAfter(k, s) == \E r \in (s + 1)..rev : log[r][k] # None
Conflicts(t, s) ==
    CASE Resolver = "history" ->
            \E k \in ReadKeys(t) : WrittenAfter(k, s)
      [] Resolver = "modrev" ->
            \/ \E k \in Keys : rdv[t][k] # NotRead /\ Cur[k].mod # At(s)[k].mod
            \/ \E k \in rng[t] : Cur[k].val # NoValue /\ Cur[k].mod > s
      [] Resolver = "modrev_lt" ->
            \E k \in ReadKeys(t) : Cur[k].val # NoValue /\ Cur[k].mod > s
      [] Resolver = "observed_only" ->
            \/ \E k \in pts[t] : Cur[k].mod # At(s)[k].mod
            \/ \E k \in rng[t] : At(s)[k].val # NoValue /\ Cur[k].mod # At(s)[k].mod

\* Applies the buffered writes of the transactions in W (whose write sets are
\* disjoint) as one commit at revision rev + 1.
ApplyAll(W) ==
    LET r == rev + 1
        writes == [k \in Keys |->
                     IF \E t \in W : wbuf[t][k] # None
                       THEN wbuf[CHOOSE t \in W : wbuf[t][k] # None][k]
                       ELSE None]
        next == [k \in Keys |->
                   IF writes[k] = None THEN Cur[k]
                   ELSE IF writes[k] = NoValue THEN [val |-> NoValue, mod |-> 0]
                   ELSE [val |-> writes[k], mod |-> r]]
    IN /\ rev' = r
       /\ hist' = Append(hist, next)
       /\ log' = Append(log, writes)
       /\ applied' = [t \in Txns |-> t \in W \/ applied[t]]
       /\ crev' = [t \in Txns |-> IF t \in W THEN r ELSE crev[t]]

Apply(t) == ApplyAll({t})

\* A transaction without writes commits trivially: nothing checked or applied.
\* It serializes at its snapshot, not at its commit.
CommitReadOnly(t) ==
    /\ phase[t] = "active"
    /\ ~HasWrites(t)
    /\ phase' = [phase EXCEPT ![t] = "committed"]
    /\ snap' = [snap EXCEPT ![t] = SnapOf(t)]
    /\ UNCHANGED <<rdv, pts, rng, wbuf, applied, crev>> /\ StoreUnchanged

\* One atomic step: check the read set, then apply or refuse. With
\* UnknownResult the client may not learn the outcome of either.
CommitWrites(t) ==
    /\ phase[t] = "active"
    /\ HasWrites(t)
    /\ snap' = [snap EXCEPT ![t] = SnapOf(t)]
    /\ UNCHANGED <<rdv, pts, rng, wbuf>>
    /\ LET ok == ~CheckReads \/ ~Conflicts(t, SnapOf(t)) IN
         \/ /\ ok
            /\ Apply(t)
            /\ \E outcome \in IF UnknownResult THEN {"committed", "unknown"}
                                                ELSE {"committed"} :
                 phase' = [phase EXCEPT ![t] = outcome]
         \/ /\ ~ok
            /\ phase' = [phase EXCEPT ![t] = "conflict"]
            /\ UNCHANGED <<applied, crev>> /\ StoreUnchanged
         \/ /\ UnknownResult   \* the request or its answer was lost; nothing applied
            /\ phase' = [phase EXCEPT ![t] = "unknown"]
            /\ UNCHANGED <<applied, crev>> /\ StoreUnchanged

\* A batch of commits in one step (the etcd backend): each is checked against
\* the state before the batch; those that pass are applied together. Either
\* the answer arrives (each learns its own outcome) or, with UnknownResult, it
\* is lost (all learn nothing, applied or not).
CommitBatch(B) ==
    /\ Batching # "none"
    /\ Cardinality(B) >= 2
    /\ \A t \in B : phase[t] = "active" /\ HasWrites(t)
    /\ \A t, u \in B : t # u => WriteKeys(t) \cap WriteKeys(u) = {}
    /\ Batching = "independent" => \A t, u \in B : t # u => Independent(t, u)
    /\ snap' = [t \in Txns |-> IF t \in B THEN SnapOf(t) ELSE snap[t]]
    /\ UNCHANGED <<rdv, pts, rng, wbuf>>
    /\ LET ok == {t \in B : ~CheckReads \/ ~Conflicts(t, SnapOf(t))}
           answered == [t \in Txns |-> IF t \in ok THEN "committed"
                                       ELSE IF t \in B THEN "conflict"
                                       ELSE phase[t]]
           lost == [t \in Txns |-> IF t \in B THEN "unknown" ELSE phase[t]]
       IN \/ /\ ok # {}
             /\ ApplyAll(ok)
             /\ \/ phase' = answered
                \/ UnknownResult /\ phase' = lost
          \/ /\ ok = {}
             /\ \/ phase' = answered
                \/ UnknownResult /\ phase' = lost
             /\ UNCHANGED <<applied, crev>> /\ StoreUnchanged
          \/ /\ UnknownResult   \* the request or its answer was lost; nothing applied
             /\ phase' = lost
             /\ UNCHANGED <<applied, crev>> /\ StoreUnchanged

Done == /\ \A t \in Txns : phase[t] # "active"
        /\ UNCHANGED vars

Next ==
    \/ \E t \in Txns :
         \/ \E k \in Keys : Read(t, k)
         \/ RangeRead(t)
         \/ \E k \in Keys, v \in Val : Write(t, k, v)
         \/ \E a, b \in Keys : Transfer(t, a, b)
         \/ CommitReadOnly(t)
         \/ CommitWrites(t)
    \/ \E B \in SUBSET Txns : CommitBatch(B)
    \/ Done

Spec == Init /\ [][Next]_vars

Symmetry == Permutations(Txns)

-----------------------------------------------------------------------------
(* Invariants *)

TypeOK ==
    /\ rev \in Nat
    /\ Len(hist) = rev + 1 /\ Len(log) = rev
    /\ \A r \in 0..rev : At(r) \in [Keys -> Record]
    /\ \A r \in 1..rev : log[r] \in [Keys -> (Nat \ {0}) \cup {NoValue, None}]
    /\ snap \in [Txns -> {-1} \cup 0..rev]
    /\ \A t \in Txns : rdv[t] \in [Keys -> (Nat \ {0}) \cup {NoValue, NotRead}]
    /\ pts \in [Txns -> SUBSET Keys] /\ rng \in [Txns -> SUBSET Keys]
    /\ \A t \in Txns : wbuf[t] \in [Keys -> (Nat \ {0}) \cup {NoValue, None}]
    /\ phase \in [Txns -> {"active", "committed", "conflict", "unknown"}]
    /\ applied \in [Txns -> BOOLEAN]
    /\ crev \in [Txns -> 0..rev]

\* Counted in the serial order: committed, or applied although the client was
\* told "unknown".
Counted(t) == phase[t] = "committed" \/ applied[t]

\* Where t sits in the serial order: just before its commit if it wrote, at
\* its snapshot if it was read-only.
SerialPoint(t) == IF crev[t] > 0 THEN crev[t] - 1 ELSE snap[t]

\* t must come before u in a batch (both applied at one revision): u wrote a
\* key that t observed with another value, so t has to see the state without
\* u's write.
ReadsBefore(t, u) ==
    /\ t # u /\ crev[t] > 0 /\ crev[t] = crev[u]
    /\ \E k \in Keys : rdv[t][k] # NotRead /\ wbuf[u][k] \notin {None, rdv[t][k]}

\* Serializability (in commit order, read-only transactions at their snapshot,
\* the commits of a batch in an order that puts readers before writers):
\* every value a counted transaction observed from the store equals the value
\* in the state its serial position sees. Since the writes it chose depend only
\* on what it observed, running the counted transactions one at a time in that
\* order produces the same reads and the same final store. Within a batch,
\* every member observed the state before the batch, so such an order must
\* exist: ReadsBefore has no cycle (none in write skew: each read what the
\* other wrote).
Serializable ==
    /\ \A t \in Txns : Counted(t) =>
         \A k \in Keys : rdv[t][k] # NotRead => rdv[t][k] = At(SerialPoint(t))[k].val
    /\ \E order \in [Txns -> 1..Cardinality(Txns)] :
         \A t, u \in Txns : ReadsBefore(t, u) => order[t] < order[u]

\* What the etcd backend's batching claims, stricter than Serializable needs:
\* the commits of a batch are independent (none observed or wrote a key
\* another wrote), so they serialize in any order.
BatchesIndependent ==
    \A t, u \in Txns : t # u /\ crev[t] > 0 /\ crev[t] = crev[u] =>
        \A k \in Keys : wbuf[u][k] = None \/ (rdv[t][k] = NotRead /\ wbuf[t][k] = None)

\* Bank: the money in the accounts never changes.
ConservedTotal == Workload = "bank" => SumOver(Keys, Cur) = Total

\* Each revision is exactly its predecessor with that commit's writes applied:
\* a written key's mod_revision is its commit's revision (0 once cleared), an
\* unwritten key keeps its value and mod_revision.
ModRevisionIsCommitRevision ==
    /\ \A r \in 1..rev : \A k \in Keys :
         IF log[r][k] = None
           THEN At(r)[k] = At(r - 1)[k]
           ELSE At(r)[k] = [val |-> log[r][k],
                            mod |-> IF log[r][k] = NoValue THEN 0 ELSE r]
    /\ \A t \in Txns : crev[t] > 0 =>
         \A k \in Keys : wbuf[t][k] \in Nat => At(crev[t])[k].mod = crev[t]
    /\ \A k \in Keys : Cur[k].mod <= rev /\ (Cur[k].val = NoValue <=> Cur[k].mod = 0)

\* Each applied commit has a revision greater than its snapshot; nothing applies
\* without one. Commits share a revision only in a batch.
CommitRevisions ==
    /\ \A t \in Txns : applied[t] <=> crev[t] > 0
    /\ \A t1, t2 \in Txns : t1 # t2 /\ crev[t1] > 0 /\ crev[t1] = crev[t2] => Batching # "none"
    /\ \A t \in Txns : crev[t] > 0 => snap[t] < crev[t]

\* A transaction that read nothing (blind writes only) never conflicts.
BlindWritesNeverConflict ==
    \A t \in Txns : phase[t] = "conflict" => ReadKeys(t) # {}

(* Action properties *)

\* The revision never decreases; each step adds at most one revision (one
\* commit, or one batch), and a step that does not apply writes does not move it.
RevisionsIncrease ==
    [][/\ rev' \in {rev, rev + 1}
       /\ (rev' = rev + 1) <=> (\E t \in Txns : ~applied[t] /\ applied'[t])]_vars

\* History is never rewritten: committed revisions stay as they were.
HistoryImmutable ==
    [][/\ SubSeq(hist', 1, Len(hist)) = hist
       /\ SubSeq(log', 1, Len(log)) = log]_vars
=============================================================================
