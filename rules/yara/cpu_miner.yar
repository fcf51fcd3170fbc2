// A CPU miner inside ASIC firmware: the control board's CPU mines another coin for someone
// else. ASIC firmware runs cgminer/bmminer (SHA-256d or scrypt on the hash boards), never
// RandomX or CryptoNight, so these algorithm names are out of place there.

rule cpu_miner_xmrig_family {
    meta:
        severity = "high"
        description = "A CPU miner of the XMRig family (RandomX / CryptoNight) in the firmware: the control board mines for someone else"
        reference = "XMRig documentation: options --donate-level, algorithms rx/0 (RandomX) and cn/* (CryptoNight)"
    strings:
        $name = "xmrig" nocase
        $donate = "donate-level"
        $randomx = "randomx" nocase
        $cryptonight = "cryptonight" nocase
        $rx0 = "\"rx/0\""
        $donate_host = "donate.v2.xmrig.com"
    condition:
        $donate_host or ($name and any of ($donate, $randomx, $cryptonight, $rx0)) or 2 of ($donate, $randomx, $cryptonight, $rx0)
}

rule cpu_miner_cpuminer_family {
    meta:
        severity = "high"
        description = "A CPU miner of the cpuminer/minerd family in the firmware: the control board mines for someone else"
        reference = "cpuminer (pooler) and its forks cpuminer-multi / cpuminer-opt: usage text and user agent"
    strings:
        $ua = "cpuminer/"
        $multi = "cpuminer-multi"
        $opt = "cpuminer-opt"
        $usage = "Usage: minerd [OPTIONS]"
    condition:
        any of them
}
