/*
** readline.h: line editing for the REPL over GNU readline (pure C, no Lua). Reads one line
** with its own signal handling (Ctrl-C discards the line), completes through a callback that
** hands back C strings, and keeps the history file.
*/
#ifndef MR_READLINE_H
#define MR_READLINE_H

typedef enum {
    MR_RL_LINE,      /* *line is a malloc'd line (without its newline) */
    MR_RL_EOF,       /* Ctrl-D on an empty line, or the input closed (the line is ended) */
    MR_RL_INTERRUPT, /* Ctrl-C: the line was discarded */
    MR_RL_TERMINATE, /* SIGTERM arrived while waiting */
    MR_RL_ERROR      /* select/read failed: errno is set */
} mr_rl_status;

/* Completion flags a source may set. */
#define MR_RL_KEEP_OPEN 1 /* a unique match inside a quote does not close the quote */

/* A completion source: the candidates that replace line[start, end) (end is the cursor), as a
** malloc'd NULL-terminated array of malloc'd strings (ownership passes to the caller), or NULL.
** It runs inside readline's stack: it must return, never longjmp. */
typedef char **(*mr_rl_complete_fn)(void *ctx, const char *line, int start, int end, int *flags);

/* Once per process: readline's settings (no signal handlers of its own, no filename
** fallback, multi-line history entries kept whole in the file). */
void mr_rl_init(const char *appname);

/* Read one line at prompt. complete may be NULL (no completion). While it waits, SIGINT and
** SIGTERM are caught here and the caller's handlers are restored before it returns. */
mr_rl_status mr_rl_read(const char *prompt, char **line, mr_rl_complete_fn complete, void *ctx);

/* History. The file functions return 0 or an errno value. */
void mr_rl_add_history(const char *line);
int mr_rl_read_history(const char *path);
int mr_rl_write_history(const char *path);
int mr_rl_append_history(const char *path, int n);
void mr_rl_stifle_history(int max);
int mr_rl_history_length(void);

#endif
