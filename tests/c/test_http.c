/* test_http.c: mr_http_url_redact hides the user info and secret-looking parameter values of
** an http(s) URL, and leaves everything else as it was (no server, no curl transfer). */
#include <stdlib.h>

#include "check.h"
#include "http.h"
#include "mr.h"

volatile sig_atomic_t mr_interrupted = 0;

static void redacts(const char *in, const char *want)
{
    char *got = malloc(MR_HTTP_REDACT_SIZE(strlen(in)));
    size_t n = mr_http_url_redact(in, got);
    CHECK_STR(got, want);
    CHECK(n == strlen(want));
    free(got);
}

int main(void)
{
    redacts("https://app.example.com/health", "https://app.example.com/health");
    redacts("http://alice:s3cret@app/x", "http://alice:***@app/x");
    redacts("https://ghp_token123@github.com/o/r", "https://***@github.com/o/r");
    redacts("https://a:b@c@app/x", "https://a:***@app/x"); /* the last @ ends the user info */
    redacts("https://app/x?token=abc&page=2", "https://app/x?token=***&page=2");
    redacts("https://app/x?page=2&api_key=k1;sig=zz", "https://app/x?page=2&api_key=***;sig=***");
    redacts("https://s3/b/o?X-Amz-Signature=abc&X-Amz-Credential=def&X-Amz-Date=1",
            "https://s3/b/o?X-Amz-Signature=***&X-Amz-Credential=***&X-Amz-Date=1");
    redacts("https://app/x?PASSWORD=p&Access%5FToken=t",
            "https://app/x?PASSWORD=***&Access%5FToken=***");
    redacts("https://app/cb#access_token=t&state=1", "https://app/cb#access_token=***&state=1");
    redacts("https://app/x?flag&secret=&design=1", "https://app/x?flag&secret=***&design=1");
    redacts("https://app/p@th?q=1", "https://app/p@th?q=1"); /* an @ in the path is no user */
    redacts("https://u:p@app", "https://u:***@app");
    redacts("", "");
    redacts("no scheme?token=x", "no scheme?token=***");
    /* the worst case stays inside MR_HTTP_REDACT_SIZE */
    redacts("http://h/?a=&b=&key=&k=", "http://h/?a=&b=&key=***&k=");
    redacts("http://h/?key=;key=;key=", "http://h/?key=***;key=***;key=***");
    CHECK_DONE();
}
