#!/bin/bash
# dracut module: server-impermanence in a systemd initrd. Installs the
# generator (which hooks server-impermanence-setup.service into
# initrd.target and mounts /persist and /var/log below /sysroot), the
# rollback helper, the static units it references and a copy of the
# configuration. Rebuild the initrd after changing the configuration
# (dracut -f); the exporter reports a stale initrd copy.

check() {
    # Only when the system is configured; never by default on other hosts.
    [[ -f /etc/server-impermanence/config.toml ]] || return 255
    require_binaries /usr/sbin/impermanence-rollback \
        /usr/lib/systemd/system-generators/server-impermanence-generator || return 1
    return 0
}

depends() {
    echo systemd btrfs
    return 0
}

install() {
    inst_multiple \
        /usr/sbin/impermanence-rollback \
        /usr/lib/systemd/system-generators/server-impermanence-generator \
        /usr/bin/echo
    inst_multiple -o /usr/sbin/impermanence-provision
    inst_simple "$systemdsystemunitdir/server-impermanence-setup.service"
    inst_simple "$systemdsystemunitdir/server-impermanence-failure@.service"
    inst_simple "$systemdsystemunitdir/server-impermanence-config-error.service"
    inst_simple /etc/server-impermanence/config.toml
    local f
    for f in /etc/server-impermanence/config.d/*.toml; do
        [[ -f $f ]] && inst_simple "$f"
    done
}
