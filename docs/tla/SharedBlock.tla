---------------------------- MODULE SharedBlock ----------------------------
(***************************************************************************)
(* A memory block shared by agents, and edited through the API, as         *)
(* src/agent/loop/agent_actor.cc and src/agent/service.cc change it (ADR   *)
(* 0008, "Shared blocks keep every edit"). An agent's turn reads the block *)
(* at its start, calls the model (time passes: other writers may commit),  *)
(* edits its copy and commits the copy. With CheckExpect the commit holds  *)
(* only if the stored block is still what the turn read                    *)
(* (Context::expect, ADR 0005); otherwise the commit is refused and the    *)
(* turn runs again from a fresh read. An API edit reads and writes in one  *)
(* transaction (AgentService's catalog change).                           *)
(*                                                                         *)
(* The block's value is the set of edits applied to it: every edit adds   *)
(* its own line (memory_insert), so an edit is lost exactly when a later   *)
(* write of the block lacks it.                                            *)
(*                                                                         *)
(* Bug switch: CheckExpect = FALSE writes the turn's copy blind            *)
(* (`agent_block_write_unchecked` in the simulator).                       *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANTS Agents,       \* agents sharing the block, one turn (one edit) each
          ApiEdits,     \* edits made through the API
          CheckExpect   \* FALSE: the BUG switch

VARIABLES block,    \* the stored block: the edits in it
          pc,       \* per agent: "read", "model", "commit", "done"
          copy,     \* per agent: the block as the turn read it
          acked     \* edits acknowledged to their callers

vars == <<block, pc, copy, acked>>

Edits == Agents \cup ApiEdits

TypeOK ==
    /\ block \subseteq Edits
    /\ pc \in [Agents -> {"read", "model", "commit", "done"}]
    /\ copy \in [Agents -> SUBSET Edits]
    /\ acked \subseteq Edits

Init ==
    /\ block = {}
    /\ pc = [a \in Agents |-> "read"]
    /\ copy = [a \in Agents |-> {}]
    /\ acked = {}

\* The turn starts: it loads the agent's blocks.
Read(a) ==
    /\ pc[a] = "read"
    /\ copy' = [copy EXCEPT ![a] = block]
    /\ pc' = [pc EXCEPT ![a] = "model"]
    /\ UNCHANGED <<block, acked>>

\* The model answers with the edit; the tool applies it to the turn's copy.
Model(a) ==
    /\ pc[a] = "model"
    /\ pc' = [pc EXCEPT ![a] = "commit"]
    /\ UNCHANGED <<block, copy, acked>>

\* The step's commit: the copy with the edit, on the condition that the block is unchanged.
Commit(a) ==
    /\ pc[a] = "commit"
    /\ IF CheckExpect /\ block # copy[a]
         THEN \* refused (conflict): rolled back, the call runs again from a fresh read
              /\ pc' = [pc EXCEPT ![a] = "read"]
              /\ UNCHANGED <<block, copy, acked>>
         ELSE /\ block' = copy[a] \cup {a}
              /\ acked' = acked \cup {a}
              /\ pc' = [pc EXCEPT ![a] = "done"]
              /\ UNCHANGED copy

\* An API edit: read and write in one serializable transaction.
Api(e) ==
    /\ e \notin acked
    /\ block' = block \cup {e}
    /\ acked' = acked \cup {e}
    /\ UNCHANGED <<pc, copy>>

Next ==
    \/ \E a \in Agents : Read(a) \/ Model(a) \/ Commit(a)
    \/ \E e \in ApiEdits : Api(e)
    \/ (\A a \in Agents : pc[a] = "done") /\ acked = Edits /\ UNCHANGED vars

Spec == Init /\ [][Next]_vars /\ \A a \in Agents : WF_vars(Read(a) \/ Model(a) \/ Commit(a))
                              /\ \A e \in ApiEdits : WF_vars(Api(e))

\* Main invariant: every acknowledged edit is in the block.
NoLostEdit == acked \subseteq block

\* Every turn commits in the end (a refused commit runs again; writers are finite).
Completes == <>(\A a \in Agents : pc[a] = "done")

=============================================================================
