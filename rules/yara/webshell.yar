// Web shells: server-side pages that run what the request says. Miner web interfaces are shell
// CGIs (checked by the CGI taint reading, FW-009); a PHP page that evaluates request values is
// not a bug in one, it is a planted door.

rule php_webshell_request_eval {
    meta:
        severity = "critical"
        description = "A PHP page passes a request value straight to eval, assert or a command function (a web shell)"
        reference = "PHP manual: eval, assert, system, passthru, shell_exec, popen, proc_open; superglobals $_GET, $_POST, $_REQUEST, $_COOKIE"
    strings:
        $php = "<?" private
        // eval($_POST['x']), @system(base64_decode($_GET["c"])), assert(gzinflate(...$_REQUEST...
        $sink = /\b(eval|assert|system|exec|passthru|shell_exec|popen|proc_open|pcntl_exec)\s*\(\s*((base64_decode|gzinflate|gzuncompress|str_rot13|stripslashes|urldecode|trim)\s*\(\s*)*@?\$_(GET|POST|REQUEST|COOKIE|FILES)\b/
        // preg_replace with the /e modifier on request data
        $preg_e = /\bpreg_replace\s*\(\s*["'][^"'\n]{1,80}\/[a-z]*e[a-z]*["']\s*,\s*@?\$_(GET|POST|REQUEST|COOKIE)\b/
    condition:
        $php and ($sink or $preg_e)
}
