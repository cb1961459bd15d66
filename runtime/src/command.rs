//! Turning `process.commandLine` into argv for tools that run without a shell.

/// Splits a command line into words the way a POSIX shell would for plain words and
/// quotes, and refuses anything that needs a shell (pipes, redirections, expansions…).
///
/// # Errors
/// A message naming the first character that needs a shell, or an unclosed quote.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unclosed single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => cur.push(c),
                            Some(c @ ('$' | '`')) => return Err(format!("`\\{c}` inside double quotes needs a shell")),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("unclosed double quote".into()),
                        },
                        Some(c @ ('$' | '`')) => return Err(format!("`{c}` inside double quotes needs a shell")),
                        Some(c) => cur.push(c),
                        None => return Err("unclosed double quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => {
                    in_word = true;
                    cur.push(c);
                }
                None => return Err("trailing backslash".into()),
            },
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '$' | '`' | '*' | '?' | '[' | ']' | '{' | '}' | '#' | '!'
            | '\n' | '\r' => {
                return Err(format!("`{}` needs a shell", c.escape_default()));
            }
            '~' if !in_word => return Err("`~` expansion needs a shell".into()),
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split_words;

    #[test]
    fn plain_words_and_quotes_split() {
        assert_eq!(
            split_words("tool.wasm -n 'a b' \"c d\" e\\ f").as_deref(),
            Ok(&["tool.wasm", "-n", "a b", "c d", "e f"].map(String::from)[..])
        );
        assert_eq!(split_words("  ").as_deref(), Ok(&[][..]));
        assert_eq!(split_words("a ''").as_deref(), Ok(&["a", ""].map(String::from)[..]));
    }

    #[test]
    fn shell_syntax_is_refused() {
        for bad in [
            "a | b",
            "a > f",
            "a; b",
            "a && b",
            "echo $HOME",
            "a `b`",
            "ls *.rs",
            "a \"$x\"",
            "~/tool.wasm",
            "a\nb",
            "'open",
        ] {
            assert!(split_words(bad).is_err(), "{bad}");
        }
    }
}
