-- +goose Up
CREATE TABLE metrics (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    arn     TEXT NOT NULL,
    name    TEXT NOT NULL,
    time_ms BIGINT NOT NULL,
    value   DOUBLE PRECISION NOT NULL
);
CREATE INDEX metrics_arn ON metrics(arn, seq);

-- +goose Down
DROP TABLE metrics;
