-- +goose Up
CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);

CREATE TABLE access_keys (
    id         TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    created_ms BIGINT NOT NULL
);
CREATE INDEX access_keys_account ON access_keys(account_id);

CREATE TABLE buckets (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL REFERENCES accounts(id),
    region     TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX buckets_owner ON buckets(owner);

CREATE TABLE resources (
    account     TEXT NOT NULL,
    type        TEXT NOT NULL,
    name_lower  TEXT NOT NULL,
    name        TEXT NOT NULL,
    arn         TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    modified_ms BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    doc         TEXT NOT NULL,
    PRIMARY KEY (account, type, name_lower)
);
CREATE INDEX resources_created ON resources(account, type, created_ms);
CREATE INDEX resources_status ON resources(type, status);

CREATE TABLE tags (
    arn   TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);

-- +goose Down
DROP TABLE tags;
DROP TABLE resources;
DROP TABLE buckets;
DROP TABLE access_keys;
DROP TABLE accounts;
