/*
** readline.c: line editing for the REPL over GNU readline (pure C, no Lua). Uses readline's
** callback interface behind a pselect loop, so signals are ours: Ctrl-C at the prompt
** discards the line instead of reaching migrun's SIGINT handler (which would arm a Lua hook).
*/
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "mr.h"
#include "readline.h"

static const int sigs[] = {SIGINT, SIGTERM, SIGWINCH};

/* The one line being read: readline has global state, so there is only ever one. */
static struct {
    int done;
    char *line;
    mr_rl_complete_fn complete;
    void *ctx;
    struct sigaction saved[MR_COUNT(sigs)]; /* the caller's handlers, restored at the end */
} cur;

static volatile sig_atomic_t prompt_signal; /* set by on_prompt_signal while we read */

static void on_prompt_signal(int sig)
{
    prompt_signal = sig;
}

/* Ours while a line is read; the caller's (migrun's: cancel the query, arm the Lua hook)
** while the completion source runs, since it may run a query. */
static void use_our_handlers(void)
{
    struct sigaction ours = {0};
    ours.sa_handler = on_prompt_signal;
    ours.sa_flags = SA_RESTART; /* pselect still returns EINTR */
    sigemptyset(&ours.sa_mask);
    for (size_t i = 0; i < MR_COUNT(sigs); i++)
        sigaction(sigs[i], &ours, NULL);
}

static void use_callers_handlers(void)
{
    for (size_t i = 0; i < MR_COUNT(sigs); i++)
        sigaction(sigs[i], &cur.saved[i], NULL);
}

static char **pending; /* candidates being handed to rl_completion_matches */
static size_t pending_i;

/* A rl_compentry_func_t over `pending`: each candidate in turn, ownership to readline. */
static char *next_candidate(const char *text, int state)
{
    (void)text;
    if (state == 0)
        pending_i = 0;
    if (pending == NULL || pending[pending_i] == NULL)
        return NULL;
    return pending[pending_i++];
}

/* rl_attempted_completion_function: the source's candidates; never readline's filenames. */
static char **attempt(const char *text, int start, int end)
{
    rl_attempted_completion_over = 1;
    rl_completion_append_character = '\0'; /* reset to ' ' before every attempt */
    if (cur.complete == NULL)
        return NULL;
    int flags = 0;
    use_callers_handlers();
    char **cands = cur.complete(cur.ctx, rl_line_buffer, start, end, &flags);
    use_our_handlers();
    if (cands == NULL)
        return NULL;
    if (flags & MR_RL_KEEP_OPEN)
        rl_completion_suppress_quote = 1;
    pending = cands;
    pending_i = 0;
    char **matches = rl_completion_matches(text, next_candidate);
    for (size_t i = pending_i; pending[i] != NULL; i++)
        free(pending[i]); /* none in practice: all are taken */
    free(cands);
    pending = NULL;
    return matches;
}

void mr_rl_init(const char *appname)
{
    rl_readline_name = appname;
    rl_catch_signals = 0;      /* SIGINT/SIGTERM: see mr_rl_read */
    rl_catch_sigwinch = 0;     /* handled in mr_rl_read too */
    rl_change_environment = 0; /* no LINES/COLUMNS for pg_dump & co */
    rl_attempted_completion_function = attempt;
    /* Lua: a.b.c and obj:method stay one word; quotes start a word of their own */
    rl_basic_word_break_characters = " \t\n\"'`@$><=;|&{(,[]+-*%^~#)}";
    rl_completer_word_break_characters = rl_basic_word_break_characters;
    rl_completer_quote_characters = "\"'";
    /* a chunk typed over several lines is one history entry; the timestamp lines ("#...")
    ** delimit entries in the file, so reading it back keeps the newlines */
    history_comment_char = '#';
    history_write_timestamps = 1;
    history_multiline_entries = 1;
    using_history();
}

static void on_line(char *line)
{
    cur.done = 1;
    cur.line = line;
    rl_callback_handler_remove();
}

mr_rl_status mr_rl_read(const char *prompt, char **line, mr_rl_complete_fn complete, void *ctx)
{
    *line = NULL;
    cur.done = 0;
    cur.line = NULL;
    cur.complete = complete;
    cur.ctx = ctx;
    prompt_signal = 0;
    int fd = fileno(rl_instream ? rl_instream : stdin);
    sigset_t block, orig;
    sigemptyset(&block);
    for (size_t i = 0; i < MR_COUNT(sigs); i++) {
        sigaddset(&block, sigs[i]);
        sigaction(sigs[i], NULL, &cur.saved[i]);
    }
    use_our_handlers();

    mr_rl_status st = MR_RL_LINE;
    using_history();    /* Up starts from the newest entry */
    static int started; /* the terminal is set up on first use */
    if (started)
        rl_reset_screen_size(); /* resized while a chunk ran? */
    rl_callback_handler_install(prompt, on_line);
    started = 1;
    while (!cur.done) {
        /* blocked from the test to the wait, so a signal can't slip in between them */
        sigprocmask(SIG_BLOCK, &block, &orig);
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        int r = 0, e = 0;
        if (prompt_signal == 0 && !mr_interrupted) {
            r = pselect(fd + 1, &fds, NULL, NULL, NULL, &orig); /* unblocks atomically */
            e = errno;
        }
        sigprocmask(SIG_SETMASK, &orig, NULL);

        int sig = prompt_signal;
        prompt_signal = 0;
        if (sig == SIGWINCH) {
            rl_resize_terminal();
            continue;
        }
        if (sig == SIGTERM) {
            st = MR_RL_TERMINATE;
            break;
        }
        if (sig == SIGINT || mr_interrupted) { /* mr_interrupted: during a completion */
            st = MR_RL_INTERRUPT;
            break;
        }
        if (r < 0) {
            if (e == EINTR)
                continue;
            errno = e;
            st = MR_RL_ERROR;
            break;
        }
        if (r > 0)
            rl_callback_read_char();
    }
    if (!cur.done) {
        /* leave what was typed on the screen, mark it ^C, and end the line */
        rl_free_line_state();
        rl_callback_sigcleanup();
        if (st == MR_RL_INTERRUPT)
            rl_echo_signal_char(SIGINT);
        rl_crlf();
        rl_callback_handler_remove();
        fflush(rl_outstream ? rl_outstream : stdout);
        use_callers_handlers();
        return st;
    }
    use_callers_handlers();
    if (prompt_signal == SIGTERM) { /* arrived with the keystroke that ended it */
        free(cur.line);
        cur.line = NULL;
        return MR_RL_TERMINATE;
    }
    if (cur.line == NULL) {
        /* end the prompt's line, unless readline did (it does with bracketed paste on) */
        const char *paste = rl_variable_value("enable-bracketed-paste");
        if (!(rl_eof_found && paste && strcmp(paste, "on") == 0))
            rl_crlf();
        fflush(rl_outstream ? rl_outstream : stdout);
        return MR_RL_EOF;
    }
    *line = cur.line;
    cur.line = NULL;
    return MR_RL_LINE;
}

void mr_rl_add_history(const char *line)
{
    add_history(line);
}

int mr_rl_read_history(const char *path)
{
    return read_history(path);
}

int mr_rl_write_history(const char *path)
{
    return write_history(path);
}

int mr_rl_append_history(const char *path, int n)
{
    return append_history(n, path);
}

void mr_rl_stifle_history(int max)
{
    stifle_history(max);
}

int mr_rl_history_length(void)
{
    return history_length;
}
