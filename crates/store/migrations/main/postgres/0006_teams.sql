-- Teams and access requests (docs/protocol.md §18.5). A team is a named group of workspace
-- members; linking a team to a vault with a role means every team member should get that role
-- in the vault. The server cannot grant vault keys itself (it never holds them): adding a user
-- to a team creates a pending access request per linked vault, which a vault manager's device
-- approves by issuing the grants (or denies). The SQLite twin must stay equivalent.
--
-- `vault_members.direct` is 1 for a membership shared with the user directly (or the vault's
-- creator) and 0 for one held only through a team: removing a user from a team removes the
-- vault memberships that are not direct and that no other team of theirs links.

ALTER TABLE vault_members ADD COLUMN direct BIGINT NOT NULL DEFAULT 1 CHECK (direct IN (0, 1));

CREATE TABLE teams (
    id           TEXT    NOT NULL PRIMARY KEY,
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    CONSTRAINT teams_name_unique UNIQUE (workspace_id, name)
);

CREATE TABLE team_members (
    team_id  TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id  TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at BIGINT  NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_by_user ON team_members (user_id);

CREATE TABLE team_vaults (
    team_id  TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    vault_id TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    role     TEXT    NOT NULL CHECK (role IN ('viewer', 'editor', 'manager')),
    added_at BIGINT  NOT NULL,
    PRIMARY KEY (team_id, vault_id)
);
CREATE INDEX team_vaults_by_vault ON team_vaults (vault_id);

CREATE TABLE access_requests (
    id         TEXT    NOT NULL PRIMARY KEY,
    vault_id   TEXT    NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('viewer', 'editor', 'manager')),
    team_id    TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'denied')),
    decided_by TEXT    REFERENCES users (id) ON DELETE SET NULL,
    decided_at BIGINT,
    CONSTRAINT access_requests_decided CHECK ((state = 'pending') = (decided_at IS NULL))
);
CREATE INDEX access_requests_by_vault ON access_requests (vault_id, state);
CREATE INDEX access_requests_by_user ON access_requests (user_id, team_id);
CREATE UNIQUE INDEX access_requests_one_pending ON access_requests (vault_id, user_id, team_id)
    WHERE state = 'pending';
