// Ways to stay on the machine and hide there that are not services or accounts (those have
// their own detectors): a library preloaded into every process, a packed executable whose
// strings the inventory cannot read, and pool traffic redirected by NAT.

rule ld_preload_written {
    meta:
        severity = "high"
        description = "A script writes /etc/ld.so.preload: a library loaded into every process (the userland rootkit technique)"
        reference = "ld.so(8), FILES: /etc/ld.so.preload"
    strings:
        $write = /(^|[^\t\x20-\x7e])[\t\x20-\x22\x24-\x7e]{0,160}(>>?|\btee\s+(-a\s+)?|\b(cp|mv|ln\s+-sf?)\s+[^\n\x00]{1,160}\s)\s*["']?\/etc\/ld\.so\.preload\b/
    condition:
        $write
}

rule upx_packed_elf {
    meta:
        severity = "medium"
        description = "A UPX-packed executable: usual for IoT bots and droppers, rare in vendor firmware; its strings and hardening cannot be inventoried"
        reference = "UPX packed-file format: the UPX! header in the loader and again after the compressed data"
    strings:
        $upx = "UPX!"
    condition:
        uint32(0) == 0x464c457f and #upx >= 2 and filesize < 32MB
}

rule stratum_nat_redirect {
    meta:
        severity = "high"
        description = "iptables rewrites the destination of pool (stratum) connections: the miner's hashrate goes to another pool whatever its configuration says"
        source = "firmware brief 1.3 (stock pools on ports 3333, 443 and 25); iptables-extensions(8) DNAT, REDIRECT"
    strings:
        $nat = /(^|[^\t\x20-\x7e])[\t\x20-\x22\x24-\x7e]{0,80}\biptables\s[^\n\x00]{0,240}--dports?\s+([0-9,:]{0,40},)?(333[0-9]|25|443)\b[^\n\x00]{0,160}-j\s+(DNAT|REDIRECT)\b/
    condition:
        $nat
}
