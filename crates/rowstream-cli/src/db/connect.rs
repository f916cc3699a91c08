//! Reaching a PostgreSQL or MySQL/MariaDB server before its pool opens: one connection
//! within the connect timeout, and when that fails, one line that names the server and
//! the cause ([`ConnectError`]). A pool alone would retry a refused connection until its
//! 30 s acquire timeout and then report only that it timed out.

use std::fmt;
use std::io::ErrorKind;
use std::time::Duration;

use sqlx::ConnectOptions;

/// Default longest wait for a database server to accept a connection, answer, and
/// authenticate (`--connect-timeout`): 5 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a connection goes: which database, at which address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// `PostgreSQL` or `MySQL/MariaDB`.
    pub(super) database: &'static str,
    /// The host name, as the URL spells it (`None` for a Unix socket).
    pub(super) host: Option<String>,
    /// `host:port` (`[v6]:port`), or the Unix socket's path.
    pub(super) at: String,
    /// The TCP port.
    pub(super) port: u16,
}

impl Target {
    /// A TCP address, or a Unix socket when `socket` is given.
    pub(super) fn new(
        database: &'static str,
        host: &str,
        port: u16,
        socket: Option<std::path::PathBuf>,
    ) -> Self {
        // sqlx keeps the brackets of an IPv6 address from the URL.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match socket {
            Some(path) => Self {
                database,
                host: None,
                at: path.display().to_string(),
                port,
            },
            None if host.contains(':') => Self {
                database,
                host: Some(host.to_owned()),
                at: format!("[{host}]:{port}"),
                port,
            },
            None => Self {
                database,
                host: Some(host.to_owned()),
                at: format!("{host}:{port}"),
                port,
            },
        }
    }
}

/// Why a database server could not be reached: `cannot connect to PostgreSQL at
/// db.internal:5432: connection refused`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// `PostgreSQL` or `MySQL/MariaDB`.
    pub database: &'static str,
    /// `host:port`, or the Unix socket's path.
    pub at: String,
    /// What went wrong.
    pub cause: Cause,
}

/// What went wrong when connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Nothing listens at the address (`ECONNREFUSED`).
    Refused,
    /// The host name does not resolve; the resolver's message.
    Dns(String),
    /// No connection, greeting or authentication within the connect timeout.
    Timeout(Duration),
    /// The TLS handshake failed, or TLS was required and is not available.
    Tls(String),
    /// The server refused the user or the password (SQLSTATE class 28); its message.
    Auth(String),
    /// The server refused for another reason (a missing database, too many
    /// connections); its message.
    Refusal(String),
    /// The answer is not the database's protocol, or the connection ended early:
    /// another service on this port, or a proxy; the client's message.
    Protocol(String),
    /// Anything else (no route to the host); the message.
    Other(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot connect to {} at {}: {}",
            self.database, self.at, self.cause
        )
    }
}

impl std::error::Error for ConnectError {}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused => f.write_str("connection refused"),
            Self::Dns(message) => write!(f, "the host name does not resolve (DNS: {message})"),
            Self::Timeout(timeout) => {
                write!(f, "no answer within {timeout:?} (--connect-timeout)")
            }
            Self::Tls(message) => write!(f, "TLS failed: {message}"),
            Self::Auth(message) => write!(f, "authentication failed: {message}"),
            Self::Refusal(message) => write!(f, "the server refused: {message}"),
            Self::Protocol(message) => write!(
                f,
                "the answer is not in this database's protocol (another service on this \
                 port?): {message}"
            ),
            Self::Other(message) => f.write_str(message),
        }
    }
}

impl Cause {
    /// The cause of a failed connection attempt.
    fn of(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::Io(err) if err.kind() == ErrorKind::ConnectionRefused => Self::Refused,
            // rustls reports a refused certificate as an I/O error.
            sqlx::Error::Io(err)
                if err
                    .get_ref()
                    .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) =>
            {
                Self::Tls(err.to_string())
            }
            sqlx::Error::Io(err)
                if matches!(
                    err.kind(),
                    ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
                ) =>
            {
                Self::Protocol(err.to_string())
            }
            sqlx::Error::Io(err) => Self::Other(err.to_string()),
            sqlx::Error::Protocol(message) => Self::Protocol(message),
            sqlx::Error::Tls(err) => Self::Tls(err.to_string()),
            sqlx::Error::Database(err) => {
                let message = err.message().to_owned();
                // SQLSTATE class 28: invalid authorization specification (PostgreSQL
                // 28P01 wrong password, 28000 unknown role; MySQL 1045 access denied).
                if err.code().is_some_and(|code| code.starts_with("28")) {
                    Self::Auth(message)
                } else {
                    Self::Refusal(message)
                }
            }
            other => Self::Other(other.to_string()),
        }
    }
}

/// One connection to `target` with `connect`, within `timeout` (`None` for none): the
/// host name is resolved first, so that a name that does not resolve is told apart.
///
/// # Errors
///
/// A [`ConnectError`] naming the target and the [`Cause`].
pub(super) async fn reach<O>(
    connect: &O,
    target: &Target,
    timeout: Option<Duration>,
) -> Result<O::Connection, ConnectError>
where
    O: ConnectOptions,
    O::Connection: Sized,
{
    let attempt = async {
        if let Some(host) = &target.host {
            let mut addresses = tokio::net::lookup_host((host.as_str(), target.port))
                .await
                .map_err(|err| Cause::Dns(err.to_string()))?;
            if addresses.next().is_none() {
                return Err(Cause::Dns("no address for this name".to_owned()));
            }
        }
        connect.connect().await.map_err(Cause::of)
    };
    let result = match timeout {
        Some(timeout) => tokio::time::timeout(timeout, attempt)
            .await
            .unwrap_or(Err(Cause::Timeout(timeout))),
        None => attempt.await,
    };
    result.map_err(|cause| ConnectError {
        database: target.database,
        at: target.at.clone(),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_the_address() {
        let at = |host: &str, socket: Option<&str>| {
            Target::new("PostgreSQL", host, 5432, socket.map(Into::into)).at
        };
        assert_eq!(at("db.internal", None), "db.internal:5432");
        assert_eq!(at("::1", None), "[::1]:5432");
        assert_eq!(at("[::1]", None), "[::1]:5432");
        assert_eq!(
            at("localhost", Some("/run/postgresql/.s.PGSQL.5432")),
            "/run/postgresql/.s.PGSQL.5432"
        );
        let socket = Target::new("PostgreSQL", "localhost", 5432, Some("/tmp".into()));
        assert_eq!(socket.host, None);
    }

    #[test]
    fn causes_read_as_one_line() {
        let error = |cause| ConnectError {
            database: "MySQL/MariaDB",
            at: "db:3306".into(),
            cause,
        };
        let refused = Cause::of(sqlx::Error::Io(ErrorKind::ConnectionRefused.into()));
        assert_eq!(
            error(refused).to_string(),
            "cannot connect to MySQL/MariaDB at db:3306: connection refused"
        );
        let tls = Cause::of(sqlx::Error::Tls("handshake failed".into()));
        assert_eq!(tls, Cause::Tls("handshake failed".into()));
        let certificate = std::io::Error::new(
            ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(
            error(Cause::of(sqlx::Error::Io(certificate))).to_string(),
            "cannot connect to MySQL/MariaDB at db:3306: TLS failed: invalid peer certificate: \
             UnknownIssuer"
        );
        let http = Cause::of(sqlx::Error::Protocol("unexpected message: 'H'".into()));
        assert_eq!(
            error(http).to_string(),
            "cannot connect to MySQL/MariaDB at db:3306: the answer is not in this database's \
             protocol (another service on this port?): unexpected message: 'H'"
        );
        let unreachable = Cause::of(sqlx::Error::Io(ErrorKind::HostUnreachable.into()));
        assert_eq!(unreachable, Cause::Other("host unreachable".into()));
        assert_eq!(
            error(Cause::Timeout(Duration::from_millis(1500))).to_string(),
            "cannot connect to MySQL/MariaDB at db:3306: no answer within 1.5s \
             (--connect-timeout)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_times_out() {
        // Something accepts (the listen queue) and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connect = sqlx::postgres::PgConnectOptions::new()
            .host("127.0.0.1")
            .port(port);
        let target = Target::new("PostgreSQL", "127.0.0.1", port, None);
        let err = reach(&connect, &target, Some(Duration::from_secs(5)))
            .await
            .unwrap_err();
        assert_eq!(err.cause, Cause::Timeout(Duration::from_secs(5)));
    }
}
