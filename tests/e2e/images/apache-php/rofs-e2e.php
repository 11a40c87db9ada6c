<?php
// GET /rofs-e2e.php answers "rofs-e2e-php ok 42" only when PHP can write what PHP apps commonly
// write: a session file (session.save_path, /var/lib/php/sessions) and a temporary file
// (sys_get_temp_dir(), /tmp, as uploads are); otherwise 500 with every warning PHP raised.
header("Content-Type: text/plain");
$warnings = [];
set_error_handler(function ($no, $msg) use (&$warnings) {
    $warnings[] = $msg;
    return true;
});
function fail($what, $warnings) {
    http_response_code(500);
    echo "$what failed:\n", implode("\n", $warnings), "\n";
    exit;
}
if (!session_start()) {
    fail("session_start", $warnings);
}
$_SESSION["n"] = 42;
$tmp = tmpfile();
if ($tmp === false) {
    fail("tmpfile", $warnings);
}
fwrite($tmp, "x");
echo "rofs-e2e-php ok ", 6 * 7, "\n";
