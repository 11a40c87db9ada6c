<?php
// GET /rofs-e2e.php answers "rofs-e2e-php ok 42" only when PHP can write what PHP apps commonly
// write: a session file (session.save_path, /var/lib/php/sessions) and a temporary file
// (sys_get_temp_dir(), /tmp, as uploads are); otherwise 500 naming what failed.
header("Content-Type: text/plain");
if (!@session_start()) {
    http_response_code(500);
    echo "session_start failed: ", error_get_last()["message"] ?? "", "\n";
    exit;
}
$_SESSION["n"] = 42;
$tmp = @tmpfile();
if ($tmp === false) {
    http_response_code(500);
    echo "tmpfile failed: ", error_get_last()["message"] ?? "", "\n";
    exit;
}
fwrite($tmp, "x");
echo "rofs-e2e-php ok ", 6 * 7, "\n";
