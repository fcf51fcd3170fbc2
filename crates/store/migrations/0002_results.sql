-- The case database, version 2: the result document (JSON) a run printed, for runs that later
-- runs compare against (`fleet scan` reads the previous scan's devices for NET-007).
-- Portable like version 1: a child row keyed by its run.

CREATE TABLE results (
    run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    result TEXT    NOT NULL
);
