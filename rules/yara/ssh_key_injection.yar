// SSH keys planted from a script: a root login for whoever holds the private key, surviving
// password changes. A shipped authorized_keys file is listed by the key inventory; these rules
// catch the script that writes one at boot or on an update.

rule ssh_key_appended_by_script {
    meta:
        severity = "high"
        description = "A script writes a hard-coded public key into an authorized_keys file (persistent key login)"
        reference = "sshd(8) AUTHORIZED_KEYS FILE FORMAT; dropbear reads the same file"
    strings:
        $key_echo = /(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)) AAAA[0-9A-Za-z+\/]{40,}={0,2}[^\n]{0,200}>>?\s*["']?[^\s;|&"']{0,80}authorized_keys2?\b/
    condition:
        $key_echo
}

rule ssh_key_downloaded {
    meta:
        severity = "high"
        description = "A script downloads a key list into an authorized_keys file: whoever controls that URL controls root logins"
        reference = "sshd(8) AUTHORIZED_KEYS FILE FORMAT"
    strings:
        $dl_redirect = /(^|[^\t\x20-\x7e])[\t\x20-\x22\x24-\x7e]{0,80}\b(curl|wget)\s[^\n]{0,200}(>>?|-O\s*|-o\s*|--output[= ])\s*["']?[^\s;|&"']{0,80}authorized_keys2?\b/
    condition:
        $dl_redirect
}
