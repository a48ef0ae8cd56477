"""Repository mode: an existing git repository worked on in a worktree of its own (checkout.py), its own tests found
and compared test by test before and after (testing.py), and the code an issue is about found mostly without the
model (localize.py)."""
