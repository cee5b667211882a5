/* test_url.c: mr_url_redact removes every password form libpq accepts. */
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
    CHECK_DONE();
}
