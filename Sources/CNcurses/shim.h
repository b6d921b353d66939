#pragma once
// ncursesw with wide-character support. Macros and globals Swift cannot import cleanly
// become small inline functions. Only Sources/TUI imports this module.
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <locale.h>
#include <langinfo.h>
#include <wchar.h>
#include <ncursesw/curses.h>

static inline WINDOW *tt_stdscr(void) { return stdscr; }
static inline int tt_lines(void) { return LINES; }
static inline int tt_cols(void) { return COLS; }
static inline int tt_colors(void) { return COLORS; }
static inline int tt_color_pairs(void) { return COLOR_PAIRS; }
static inline attr_t tt_a_normal(void) { return A_NORMAL; }
static inline attr_t tt_a_bold(void) { return A_BOLD; }
static inline attr_t tt_a_underline(void) { return A_UNDERLINE; }
static inline attr_t tt_a_reverse(void) { return A_REVERSE; }
static inline attr_t tt_a_dim(void) { return A_DIM; }
static inline int tt_key_code_yes(void) { return KEY_CODE_YES; }
static inline int tt_key_resize(void) { return KEY_RESIZE; }
static inline int tt_key_left(void) { return KEY_LEFT; }
static inline int tt_key_right(void) { return KEY_RIGHT; }
static inline int tt_key_up(void) { return KEY_UP; }
static inline int tt_key_down(void) { return KEY_DOWN; }
static inline int tt_key_home(void) { return KEY_HOME; }
static inline int tt_key_end(void) { return KEY_END; }
static inline int tt_key_ppage(void) { return KEY_PPAGE; }
static inline int tt_key_npage(void) { return KEY_NPAGE; }

/// Sets attributes and an (extended) colour pair for what is drawn next.
static inline int tt_set_style(attr_t attrs, int pair) {
    return wattr_set(stdscr, attrs, (short)(pair < 32767 ? pair : 0), (void *)&pair);
}
static inline int tt_init_pair(int pair, int fg, int bg) { return init_extended_pair(pair, fg, bg); }
static inline int tt_get_wch(wint_t *ch) { return wget_wch(stdscr, ch); }
static inline int tt_mvaddstr(int y, int x, const char *s) { return mvwaddstr(stdscr, y, x, s); }
static inline int tt_is_utf8_locale(void) {
    const char *cs = nl_langinfo(CODESET);
    return cs && (cs[0] == 'U' || cs[0] == 'u') && (cs[1] == 'T' || cs[1] == 't') && (cs[2] == 'F' || cs[2] == 'f');
}

#include <stdio.h>
// C's `stdout` is a mutable global to Swift 6; nothing in thinktop reassigns it and FILE
// streams lock themselves, so reading it through a function is safe from any thread.
static inline FILE *tt_stdout(void) { return stdout; }
static inline int tt_key_backspace(void) { return KEY_BACKSPACE; }
static inline int tt_key_dc(void) { return KEY_DC; }
static inline int tt_key_enter(void) { return KEY_ENTER; }
static inline int tt_set_escdelay(int ms) { return set_escdelay(ms); }
