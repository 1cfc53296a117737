---------------------------- MODULE AgentTurn ----------------------------
(***************************************************************************)
(* One agent turn as src/agent/loop/agent_actor.cc runs it (ADR 0008): a   *)
(* durable invocation whose steps each call the model, run the tools the   *)
(* model asked for, and commit the step -- the model's tool call, the      *)
(* tool's return and the run's progress -- in ONE fenced transaction. The  *)
(* node may crash at any point; the journaled invocation is then run again *)
(* (recovery) and resumes from the committed progress.                     *)
(*                                                                         *)
(* Store: `stored` (the committed messages: <<kind, step>>), `progress`    *)
(* (committed steps of the run, part of the actor state) and `inputDone`   *)
(* (the input is committed with the first step). Node memory: `pc`,       *)
(* `step`, `pending` (messages made but not committed). Ghosts: `llmDone`  *)
(* (completed model calls per step), `repeated` (a model call for a step   *)
(* already committed).                                                     *)
(*                                                                         *)
(* Bug switches: SplitCommit commits the tool call before the return (two  *)
(* transactions); ForgetProgress resumes from the first step, ignoring the *)
(* committed progress.                                                     *)
(***************************************************************************)
EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS Steps,          \* model calls in the turn (the last answers in plain text)
          MaxCrashes,     \* crashes the run may suffer
          SplitCommit,    \* BUG switch
          ForgetProgress  \* BUG switch

VARIABLES stored, progress, inputDone, pc, step, pending, crashes, llmDone, repeated

vars == <<stored, progress, inputDone, pc, step, pending, crashes, llmDone, repeated>>

StepIds == 0..(Steps - 1)
Kinds == {"input", "call", "return", "answer"}

TypeOK ==
    /\ stored \in Seq(Kinds \X StepIds)
    /\ progress \in 0..Steps
    /\ inputDone \in BOOLEAN
    /\ pc \in {"start", "llm", "tool", "commit", "commit2", "done", "down"}
    /\ step \in 0..Steps
    /\ pending \in Seq(Kinds \X StepIds)
    /\ crashes \in 0..MaxCrashes
    /\ llmDone \in [StepIds -> Nat]
    /\ repeated \in BOOLEAN

Init ==
    /\ stored = <<>>
    /\ progress = 0
    /\ inputDone = FALSE
    /\ pc = "start"
    /\ step = 0
    /\ pending = <<>>
    /\ crashes = 0
    /\ llmDone = [s \in StepIds |-> 0]
    /\ repeated = FALSE

\* The activation (re)starts the journaled turn: the input is applied unless it is committed,
\* and the loop resumes at the committed progress.
Start ==
    /\ pc = "start"
    /\ step' = IF ForgetProgress THEN 0 ELSE progress
    /\ pending' = IF inputDone /\ ~ForgetProgress THEN <<>> ELSE <<<<"input", 0>>>>
    /\ pc' = IF progress = Steps /\ ~ForgetProgress THEN "done" ELSE "llm"
    /\ UNCHANGED <<stored, progress, inputDone, crashes, llmDone, repeated>>

\* One model call completes (an external effect: it is not undone by a crash).
CallModel ==
    /\ pc = "llm"
    /\ step < Steps
    /\ llmDone' = [llmDone EXCEPT ![step] = @ + 1]
    /\ repeated' = (repeated \/ step < progress)
    /\ IF step = Steps - 1
         THEN /\ pending' = Append(pending, <<"answer", step>>)   \* plain text: the last step
              /\ pc' = "commit"
         ELSE /\ pending' = Append(pending, <<"call", step>>)
              /\ pc' = "tool"
    /\ UNCHANGED <<stored, progress, inputDone, step, crashes>>

\* The tool runs; with SplitCommit the call was committed alone first.
RunTool ==
    /\ pc = "tool"
    /\ IF SplitCommit
         THEN /\ stored' = stored \o pending
              /\ inputDone' = TRUE
              /\ pending' = <<<<"return", step>>>>
         ELSE /\ pending' = Append(pending, <<"return", step>>)
              /\ UNCHANGED <<stored, inputDone>>
    /\ pc' = "commit"
    /\ UNCHANGED <<progress, step, crashes, llmDone, repeated>>

\* The step's fenced commit: its messages and the progress, atomically.
CommitStep ==
    /\ pc = "commit"
    /\ stored' = stored \o pending
    /\ inputDone' = TRUE
    /\ progress' = step + 1
    /\ pending' = <<>>
    /\ step' = step + 1
    /\ pc' = IF step + 1 = Steps THEN "done" ELSE "llm"
    /\ UNCHANGED <<crashes, llmDone, repeated>>

\* The node dies: memory is lost; the store keeps what was committed. The journal entry is still
\* pending, so recovery runs the turn again.
Crash ==
    /\ pc \notin {"done", "down"}
    /\ crashes < MaxCrashes
    /\ crashes' = crashes + 1
    /\ pc' = "down"
    /\ pending' = <<>>
    /\ UNCHANGED <<stored, progress, inputDone, step, llmDone, repeated>>

Recover ==
    /\ pc = "down"
    /\ pc' = "start"
    /\ UNCHANGED <<stored, progress, inputDone, step, pending, crashes, llmDone, repeated>>

Done == pc = "done" /\ UNCHANGED vars

Next == Start \/ CallModel \/ RunTool \/ CommitStep \/ Crash \/ Recover \/ Done

Spec == Init /\ [][Next]_vars /\ WF_vars(Start \/ CallModel \/ RunTool \/ CommitStep \/ Recover)

---------------------------------------------------------------------------
Count(kind, s) == Cardinality({i \in 1..Len(stored) : stored[i] = <<kind, s>>})

\* A tool call is never stored without its return (approval requests are not modelled: they are
\* the one call allowed to wait, as the last message).
CallsPaired == \A s \in StepIds : Count("call", s) = Count("return", s)

\* Nothing is stored twice: the input once, each step's messages once.
NoDuplicates == \A k \in Kinds, s \in StepIds : Count(k, s) <= 1

\* A model call is never made again for a step already committed.
NoCommittedStepRepeated == ~repeated

\* Liveness: the turn finishes with every step stored exactly once.
Completes == <>(pc = "done" /\ progress = Steps)
=============================================================================
