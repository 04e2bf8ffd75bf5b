/**
 * The base sshd hardening drop-in; `sshd/00-signstar-hardening.conf` in the repository is the same text
 * (a test keeps them equal). sshd uses the first value it reads for a keyword, and Debian's sshd_config
 * includes sshd_config.d/*.conf at its top, so these values win over the main file; the per-user
 * `Match User` blocks (10-signstar-user-*.conf) override them for Signstar users only.
 */
export const HARDENING_CONF = `# Managed by signstar-configure-build. Changes are overwritten.
# Signstar base hardening: key authentication only, no root, no forwarding, no TTY, no per-user keys
# except the AuthorizedKeysFile set for each Signstar user in 10-signstar-user-<user>.conf.
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
HostbasedAuthentication no
PubkeyAuthentication yes
AuthenticationMethods publickey
AuthorizedKeysFile none
AuthorizedPrincipalsFile none
IgnoreRhosts yes
DisableForwarding yes
AllowTcpForwarding no
AllowStreamLocalForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
GatewayPorts no
PermitListen none
PermitOpen none
PermitTTY no
PermitUserRC no
PermitUserEnvironment no
PrintMotd no
MaxAuthTries 3
MaxSessions 2
LoginGraceTime 30
MaxStartups 64:30:256
ClientAliveInterval 15
ClientAliveCountMax 4
LogLevel VERBOSE
`;
