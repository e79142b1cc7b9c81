-- Every account remembers the user backend it was made for ("htpasswd",
-- "ldap", "oidc:<provider>"), so that a backend that keeps no list of its
-- own users (an OpenID Connect provider) can still answer whether a name is
-- its user. Accounts made before are of no known source: ''.
ALTER TABLE accounts ADD COLUMN source TEXT NOT NULL DEFAULT '';
