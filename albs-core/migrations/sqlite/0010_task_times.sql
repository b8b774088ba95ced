-- When each task last started (was claimed) and finished, for the web pages.
CREATE TABLE task_times (
    task_id INTEGER PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    started INTEGER,
    finished INTEGER
);
