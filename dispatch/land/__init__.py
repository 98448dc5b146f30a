"""Landing: reading a task's work (review, compare, conflicts) and putting it on its base (merge), one task or a group."""
