// IoT bots of the Mirai and Gafgyt (Bashlite) families and their droppers. Miners are Linux
// boxes on flat networks with telnet or SSH and default passwords: the same targets as cameras
// and routers. The strings are the families' well-known plaintext markers; obfuscated builds
// need their own rules (add them with --rules).

rule mirai_family {
    meta:
        severity = "critical"
        description = "Mirai-family bot: its busybox check tag or its table of factory telnet passwords"
        reference = "Antonakakis et al., Understanding the Mirai Botnet, USENIX Security 2017; the 2016 public source release (table of default credentials)"
    strings:
        $tag_mirai = "/bin/busybox MIRAI"
        $tag_mirai_err = "MIRAI: applet not found"
        $tag_ecchi = "/bin/busybox ECCHI"
        $tag_ecchi_err = "ECCHI: applet not found"
        $cred_xc3511 = "xc3511"
        $cred_vizxv = "vizxv"
        $cred_7ujmko = "7ujMko0"
        $cred_zte521 = "Zte521"
        $cred_hi3518 = "hi3518"
        $cred_jvbzd = "jvbzd"
        $cred_klv1234 = "klv1234"
        $cred_juantech = "juantech"
        $cred_zlxx = "zlxx."
        $cred_tsgoingon = "tsgoingon"
    condition:
        any of ($tag_*) or 4 of ($cred_*)
}

rule gafgyt_family {
    meta:
        severity = "critical"
        description = "Gafgyt (Bashlite) family bot: its command words for scanning and flooding"
        reference = "public analyses of Bashlite/Gafgyt (2014 onwards): IRC-like commands SCANNER ON/OFF, KILLATTK, GETLOCALIP"
    strings:
        $killattk = "KILLATTK"
        $lolnogtfo = "LOLNOGTFO"
        $getlocalip = "GETLOCALIP"
        $scanner_on = "SCANNER ON"
        $scanner_off = "SCANNER OFF"
        $gayfgt = "gayfgt" nocase
        $tsource = "TSource Engine Query"
    condition:
        3 of them
}

rule bot_dropper_script {
    meta:
        severity = "critical"
        description = "A bot dropper script: tries one writable directory after another, downloads binaries and makes them executable"
        reference = "the infection one-liners logged by IoT honeypots: cd /tmp || cd /var/run || ...; wget/tftp; chmod 777; run"
    strings:
        $cd_chain = /\bcd\s+\/(tmp|var\/run|var\/tmp|mnt|root|dev\/shm)\/?\s*\|\|\s*cd\s+\/(tmp|var\/run|var\/tmp|mnt|root|dev\/shm)\b/
        $fetch = /\b(wget|curl|tftp|ftpget|busybox\s+(wget|tftp))\s/
        $chmod = /\bchmod\s+(\+x|777|755|775)\s/
    condition:
        filesize < 1MB and $cd_chain and $fetch and $chmod
}
