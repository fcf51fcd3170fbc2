// Code fetched from the network and run at once: whoever controls the URL (or the DNS and the
// path to it, over plain HTTP) runs code as root on every machine. On a miner this belongs to
// cron, rc scripts and droppers, never to the stock firmware.

rule download_piped_to_shell {
    meta:
        severity = "high"
        description = "A script downloads a program and pipes it straight into a shell (curl | sh, wget -O- | sh)"
        reference = "curl(1) writes to standard output by default; busybox wget -O - does the same"
    strings:
        $pipe = /(^|[^\t\x20-\x7e])[\t\x20-\x22\x24-\x7e]{0,120}\b(curl|wget)\s[^\n\x00|;]{0,240}\|\s*(sudo\s+)?((\/usr)?\/bin\/)?(ba|a|da|z)?sh\b/
    condition:
        $pipe
}

rule download_run_from_tmp {
    meta:
        severity = "medium"
        description = "A script downloads a file into a temporary directory and makes it executable there (download and run)"
        reference = "the usual dropper pattern: fetch to /tmp, /var/run or /dev/shm, chmod +x, run"
    strings:
        $fetch = /(^|[^\t\x20-\x7e])[\t\x20-\x22\x24-\x7e]{0,120}\b(wget|curl|tftp|ftpget)\s[^\n\x00]{0,240}(\/tmp|\/var\/tmp|\/var\/run|\/dev\/shm)\/[A-Za-z0-9._\-]{1,64}/
        $chmod = /(^|[^\t\x20-\x7e])[\t\x20-\x22\x24-\x7e]{0,120}\bchmod\s+(\+x|[ugoa]+\+x|[0-7]?[0-7][157][157])\s+["']?(\/tmp|\/var\/tmp|\/var\/run|\/dev\/shm)\/[A-Za-z0-9._\-]{1,64}/
    condition:
        $fetch and $chmod
}
