"""Company mode: one product request becomes a plan of work items, built by engineer agents working in parallel
in their own git worktrees, reviewed, merged, and accepted by QA agents that use the product."""
