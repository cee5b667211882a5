/* test_url.c: mr_url_redact removes every password form libpq accepts, and
** mr_url_blank_password overwrites the same passwords in place (argv, for ps). */
#include <stdlib.h>

#include "check.h"
#include "mr.h"

volatile sig_atomic_t mr_interrupted = 0;

static void redacts(const char *in, const char *want)
{
    char *got = mr_url_redact(in);
    CHECK_STR(got, want);
    free(got);
}

/* blank(in) must give want (same length) and report the number of bytes overwritten */
static void blanks(const char *in, const char *want, size_t n)
{
    char *buf = strdup(in);
    size_t got = mr_url_blank_password(buf);
    CHECK_STR(buf, want);
    CHECK(strlen(buf) == strlen(in));
    CHECK(got == n);
    if (got != n)
        fprintf(stderr, "  %s: blanked %zu bytes, want %zu\n", in, got, n);
    free(buf);
}

int main(void)
{
    redacts("postgresql://alice:s3cret@db1:5432/app", "postgresql://alice:***@db1:5432/app");
    redacts("postgres://alice:s3cret@db1/app", "postgres://alice:***@db1/app");
    redacts("postgresql://alice@db1/app", "postgresql://alice@db1/app");
    redacts("postgresql://db1/app", "postgresql://db1/app");
    redacts("postgresql://alice:p%40ss@db1/app?sslmode=require",
            "postgresql://alice:***@db1/app?sslmode=require");
    redacts("postgresql://db1/app?user=a&password=s3cret&sslmode=require",
            "postgresql://db1/app?user=a&password=***&sslmode=require");
    redacts("postgresql://a:b@h1:1,h2:2/app", "postgresql://a:***@h1:1,h2:2/app");
    redacts("host=db1 password=s3cret dbname=app", "host=db1 password=*** dbname=app");
    redacts("host=db1 password = 's3 cr\\'et' dbname=app", "host=db1 password = *** dbname=app");
    redacts("password=s3cret", "password=***");
    redacts("host=db1 dbname=app", "host=db1 dbname=app");
    /* an unencoded '/' in the password must not let it escape */
    redacts("postgresql://u:pa/ss@h/db", "postgresql://u:***@h/db");
    redacts("postgresql://u:p?x@h/db", "postgresql://u:***@h/db");   /* libpq: '?' in password */
    redacts("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db");
    redacts("postgresql://h/db?user=me@corp", "postgresql://h/db?user=me@corp");
    /* libpq percent-decodes parameter names */
    redacts("postgresql://h/db?pass%77ord=s3cret", "postgresql://h/db?pass%77ord=***");
    redacts("postgresql://h/db?PASSWORD=x", "postgresql://h/db?PASSWORD=x");   /* not a key */
    redacts("postgresql://h/db?sslmode=require&password=", "postgresql://h/db?sslmode=require&password=***");
    redacts("postgresql://h/db?passwordx=1", "postgresql://h/db?passwordx=1");
    redacts("host=h password='' dbname=x", "host=h password=*** dbname=x");
    redacts("  password   =   s3cret", "  password   =   ***");
    redacts("user=password host=h", "user=password host=h");
    redacts("", "");
    redacts("app", "app");
    /* a '@' in the query when the user info has none: the password parameter still goes */
    redacts("postgresql://h/db?user=me:x@corp&password=s3cret",
            "postgresql://h/db?user=me:***@corp&password=***");
    redacts("host=h password=a password='b c' dbname=x",
            "host=h password=*** password=*** dbname=x");

    /* blanking: URLs */
    blanks("postgresql://alice:s3cret@db1:5432/app", "postgresql://alice:xxxxxx@db1:5432/app", 6);
    blanks("postgres://alice:p%40ss%2Fw@db1/app", "postgres://alice:xxxxxxxxxx@db1/app", 10);
    blanks("postgresql://db1/app?user=a&password=s3cret&sslmode=require",
           "postgresql://db1/app?user=a&password=xxxxxx&sslmode=require", 6);
    blanks("postgresql://db1/app?password=s3cret", "postgresql://db1/app?password=xxxxxx", 6);
    blanks("postgresql://h/db?pass%77ord=abc", "postgresql://h/db?pass%77ord=xxx", 3);
    blanks("postgresql://a:b@h1:1,h2:2,h3/app?password=cd&target_session_attrs=read-write",
           "postgresql://a:x@h1:1,h2:2,h3/app?password=xx&target_session_attrs=read-write", 3);
    blanks("postgresql://u:pa/ss@h/db", "postgresql://u:xxxxx@h/db", 5);
    blanks("postgresql://u:p@ss@h/db", "postgresql://u:xxxx@h/db", 4);
    blanks("postgresql://u:@h/db", "postgresql://u:@h/db", 0);
    blanks("postgresql://h/db?sslmode=require&password=", "postgresql://h/db?sslmode=require&password=", 0);
    /* blanking: conninfo */
    blanks("host=db1 password=s3cret dbname=app", "host=db1 password=xxxxxx dbname=app", 6);
    blanks("host=db1 password = 'pass word' dbname=app",
           "host=db1 password = 'xxxxxxxxx' dbname=app", 9);
    blanks("password='it\\'s' user=me", "password='xxxxx' user=me", 5);
    blanks("password='a\\\\b'", "password='xxxx'", 4);
    blanks("password=one password=two", "password=xxx password=xxx", 6);
    blanks("  password   =   s3cret", "  password   =   xxxxxx", 6);
    /* nothing to blank: left exactly as it was */
    blanks("postgresql://alice@db1/app", "postgresql://alice@db1/app", 0);
    blanks("postgresql://db1:5432,db2:5433/app?sslmode=require",
           "postgresql://db1:5432,db2:5433/app?sslmode=require", 0);
    blanks("host=db1 dbname=app user=password", "host=db1 dbname=app user=password", 0);
    blanks("passwordx=1 passfile=/p", "passwordx=1 passfile=/p", 0);
    blanks("app", "app", 0);
    blanks("--verbose", "--verbose", 0);
    blanks("", "", 0);
    blanks("SELECT 1 -- password=x", "SELECT 1 -- password=x", 0);
    CHECK_DONE();
}
