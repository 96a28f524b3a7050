//! The exit codes every step shares, and how a failure picks its code.
//!
//! A step's exit code is how CI reads its result, so it is a convention of
//! the CI system as much as of the step: 0 success, 1 the step said no, 2
//! the caller's mistake, 3 something outside failed after retries. Library
//! errors say which of these they are by implementing [`Classified`]; the
//! binaries turn that into the process's code without a second mapping.

/// The exit codes, the same in every pipeline step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Exit {
    /// 0: the step succeeded.
    Success = 0,
    /// 1: the step said no (a gate failed, a merge conflicted, the remote
    /// moved, validation failed and traffic did not move or went back).
    Refused = 1,
    /// 2: usage, configuration or input error.
    Usage = 2,
    /// 3: an external system failed after retries.
    External = 3,
}

impl Exit {
    /// Every code, in order, with what it means in every step.
    pub const TABLE: [(Exit, &'static str); 4] = [
        (Exit::Success, "success"),
        (
            Exit::Refused,
            "the step said no (a gate failed, a merge conflicted, the remote moved, a promotion \
             was refused, validation failed before the switch or verification failed after it \
             and traffic went back)",
        ),
        (
            Exit::Usage,
            "usage, configuration or input error (a bad flag, a missing or malformed file, a \
             glob matching nothing, no repository, refused credentials)",
        ),
        (
            Exit::External,
            "an external system failed after retries (network, cloud API, the agent, the git \
             remote)",
        ),
    ];

    /// The code, as the process returns it.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The code a process exited with, as one of ours: any other is taken
    /// for an input error (a crash is never a success).
    pub fn from_code(code: i32) -> Self {
        match code {
            0 => Exit::Success,
            1 => Exit::Refused,
            3 => Exit::External,
            _ => Exit::Usage,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

/// An error that knows which exit code it gives.
pub trait Classified: std::error::Error {
    /// The exit code this failure gives: never [`Exit::Success`].
    fn exit(&self) -> Exit;
}

impl<T: Classified> Classified for Box<T> {
    fn exit(&self) -> Exit {
        (**self).exit()
    }
}

/// The files GitHub Actions names could not be written: the runner's set-up
/// (exit 2).
impl Classified for crate::OutputError {
    fn exit(&self) -> Exit {
        Exit::Usage
    }
}

impl Classified for crate::SummaryError {
    fn exit(&self) -> Exit {
        Exit::Usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_code_in_order() {
        let codes: Vec<u8> = Exit::TABLE.iter().map(|(e, _)| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3]);
        for code in 0..=3 {
            assert_eq!(Exit::from_code(code).code() as i32, code);
        }
        assert_eq!(Exit::from_code(101), Exit::Usage);
        assert_eq!(Exit::from_code(-1), Exit::Usage);
    }
}
