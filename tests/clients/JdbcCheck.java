// What a JDBC app does, through pgscope; run by tests/integration/clients.rs as
//   java -cp /usr/share/java/postgresql.jar tests/clients/JdbcCheck.java HOST PORT USER PASSWORD DBNAME
// Prints `ok` and exits 0, or exits 1 naming the step and the mismatch. Progress goes to stderr.
// The counts asserted on the Rust side are the constants below: keep them in step.

import java.io.StringReader;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.sql.Types;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.Objects;
import java.util.Properties;

import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.copy.CopyManager;

public class JdbcCheck {
    static final int PREPARED_RUNS = 20;
    static final int BATCH_ROWS = 100;
    static final int COPY_ROWS = 1000;
    static final int BIG_ROWS = 50_000;
    static final int CURSOR_ROWS = 20_500;
    static final int FETCH_SIZE = 1000;

    static final Object[][] ROWS = {
        {1, "alpha", OffsetDateTime.of(2024, 2, 29, 12, 30, 1, 123456000, ZoneOffset.UTC),
            new BigDecimal("12345.678900"), new byte[] {0, 1, (byte) 0xfe, (byte) 0xff},
            "{\"k\": [1, 2, {\"x\": null}]}", null},
        {2, "béta ☃", OffsetDateTime.of(1999, 12, 31, 23, 59, 59, 0, ZoneOffset.UTC),
            new BigDecimal("-0.5"), new byte[0], "[]", "note"},
        {3, null, null, null, null, null, null},
    };

    static String host, port, user, password, db;

    static class Mismatch extends Exception {
        Mismatch(String what) { super(what); }
    }

    static void check(boolean cond, String what) throws Mismatch {
        if (!cond) throw new Mismatch(what);
    }

    static void step(String name) {
        System.err.println("jdbc: " + name);
    }

    static Connection connect(String query) throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", user);
        props.setProperty("password", password);
        props.setProperty("connectTimeout", "10");
        String url = "jdbc:postgresql://" + host + ":" + port + "/" + db + query;
        return DriverManager.getConnection(url, props);
    }

    static void sslRequireIsRefused() throws Exception {
        step("sslmode=require fails cleanly");
        try (Connection c = connect("?sslmode=require")) {
            throw new Mismatch("sslmode=require connected although pgscope declines SSL");
        } catch (SQLException e) {
            check(e.getMessage().contains("SSL"), "unexpected error for sslmode=require: " + e);
        }
    }

    static void simpleQueries(Connection c) throws Exception {
        step("plain Statement, several statements in one string");
        try (Statement s = c.createStatement()) {
            s.execute("CREATE TABLE jdbc_items (id int PRIMARY KEY, name text, at timestamptz, "
                + "amount numeric, blob bytea, doc jsonb, note text); "
                + "CREATE TABLE jdbc_many (id int PRIMARY KEY, v text); "
                + "CREATE TABLE jdbc_copy (id int, v text)");
            try (ResultSet rs = s.executeQuery("SELECT current_user")) {
                check(rs.next() && user.equals(rs.getString(1)), "current_user");
            }
        }
    }

    static void typedRoundTrip(Connection c) throws Exception {
        step("parameterized insert/select of many types");
        String insert = "INSERT INTO jdbc_items (id, name, at, amount, blob, doc, note) "
            + "VALUES (?, ?, ?, ?, ?, ?::jsonb, ?)";
        try (PreparedStatement ps = c.prepareStatement(insert)) {
            for (Object[] r : ROWS) {
                ps.setInt(1, (Integer) r[0]);
                ps.setString(2, (String) r[1]);
                ps.setObject(3, r[2], Types.TIMESTAMP_WITH_TIMEZONE);
                ps.setBigDecimal(4, (BigDecimal) r[3]);
                ps.setBytes(5, (byte[]) r[4]);
                ps.setString(6, (String) r[5]);
                if (r[6] == null) ps.setNull(7, Types.VARCHAR); else ps.setString(7, (String) r[6]);
                check(ps.executeUpdate() == 1, "insert row " + r[0]);
            }
        }
        String select = "SELECT id, name, at, amount, blob, doc::text, note AS typed_note "
            + "FROM jdbc_items WHERE id = ?";
        try (PreparedStatement ps = c.prepareStatement(select)) {
            for (Object[] r : ROWS) {
                ps.setInt(1, (Integer) r[0]);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "no row " + r[0]);
                    Object[] got = {rs.getInt(1), rs.getString(2), rs.getObject(3, OffsetDateTime.class),
                        rs.getBigDecimal(4), rs.getBytes(5), rs.getString(6), rs.getString(7)};
                    check(Arrays.deepEquals(got, r), "row " + r[0] + " came back as " + Arrays.deepToString(got));
                }
            }
        }
    }

    static void preparedStatement(Connection c) throws Exception {
        step("PreparedStatement executed " + PREPARED_RUNS + " times (server-side from the 5th)");
        try (PreparedStatement ps = c.prepareStatement("SELECT name AS prep_name FROM jdbc_items WHERE id = ?")) {
            for (int i = 0; i < PREPARED_RUNS; i++) {
                ps.setInt(1, i % 3 + 1);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next() && Objects.equals(rs.getString(1), ROWS[i % 3][1]), "prepared run " + i);
                }
            }
        }
        try (Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_prepared_statements "
                 + "WHERE statement LIKE '%prep' || '_name%'")) {
            check(rs.next() && rs.getInt(1) == 1, "expected one server-side prepared statement");
        }
    }

    static void errorInTransaction(Connection c) throws Exception {
        step("error inside a transaction, rollback, savepoint, carry on");
        c.setAutoCommit(false);
        try (PreparedStatement ok = c.prepareStatement("INSERT INTO jdbc_many (id, v) VALUES (?, ?)");
             PreparedStatement dup = c.prepareStatement("INSERT INTO jdbc_items (id, name) VALUES (?, ?)");
             PreparedStatement div = c.prepareStatement("SELECT 1 / ? AS jdbc_div")) {
            ok.setInt(1, -1);
            ok.setString(2, "in tx");
            ok.executeUpdate();
            dup.setInt(1, 1);
            dup.setString(2, "dup");
            expectState("23505", dup::executeUpdate);
            c.rollback();
            Savepoint sp = c.setSavepoint();
            div.setInt(1, 0);
            expectState("22012", div::executeQuery);
            c.rollback(sp);
            ok.setInt(1, -2);
            ok.setString(2, "kept");
            ok.executeUpdate();
            c.commit();
        }
        c.setAutoCommit(true);
        try (Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT string_agg(id::text, ',') FROM jdbc_many WHERE id < 0")) {
            check(rs.next() && "-2".equals(rs.getString(1)), "rolled back/kept rows wrong: " + rs.getString(1));
        }
    }

    interface SqlAction { Object run() throws SQLException; }

    static void expectState(String state, SqlAction action) throws Exception {
        try {
            action.run();
        } catch (SQLException e) {
            check(state.equals(e.getSQLState()), "expected SQLSTATE " + state + ", got " + e);
            return;
        }
        throw new Mismatch("expected SQLSTATE " + state + ", statement succeeded");
    }

    static void batch(Connection c) throws Exception {
        step("addBatch/executeBatch of " + BATCH_ROWS + " rows");
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO jdbc_many (id, v) VALUES (?, ?)")) {
            for (int i = 0; i < BATCH_ROWS; i++) {
                ps.setInt(1, i);
                ps.setString(2, "v" + i);
                ps.addBatch();
            }
            int[] counts = ps.executeBatch();
            check(counts.length == BATCH_ROWS && Arrays.stream(counts).allMatch(n -> n == 1),
                "executeBatch counts " + Arrays.toString(counts));
        }
    }

    static void copyBothWays(Connection c) throws Exception {
        step("CopyManager: COPY FROM STDIN (" + COPY_ROWS + " rows) and COPY TO STDOUT");
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < COPY_ROWS; i++) text.append(i).append("\tline ").append(i).append('\n');
        CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
        long in = copy.copyIn("COPY jdbc_copy (id, v) FROM STDIN", new StringReader(text.toString()));
        check(in == COPY_ROWS, "copyIn reported " + in);
        StringWriter out = new StringWriter();
        long outRows = copy.copyOut("COPY (SELECT id, v FROM jdbc_copy ORDER BY id) TO STDOUT", out);
        check(outRows == COPY_ROWS && out.toString().equals(text.toString()), "copyOut differs (" + outRows + " rows)");
    }

    static void listenNotify(Connection c) throws Exception {
        step("LISTEN/NOTIFY, listener with sslmode=disable and preferQueryMode=simple");
        try (Connection listener = connect("?sslmode=disable&preferQueryMode=simple");
             Statement ls = listener.createStatement();
             PreparedStatement notify = c.prepareStatement("SELECT pg_notify(?, ?)")) {
            ls.execute("LISTEN jdbc_channel");
            notify.setString(1, "jdbc_channel");
            notify.setString(2, "héllo");
            notify.executeQuery().close();
            PGNotification[] got = listener.unwrap(PGConnection.class).getNotifications(20_000);
            check(got != null && got.length == 1, "notifications: " + Arrays.toString(got));
            check(got[0].getName().equals("jdbc_channel") && got[0].getParameter().equals("héllo"),
                "notification " + got[0].getName() + " " + got[0].getParameter());
        }
    }

    static void cancelRunningQuery(Connection c) throws Exception {
        step("setQueryTimeout(1): the driver cancels the running query (CancelRequest)");
        long started = System.nanoTime();
        try (Statement s = c.createStatement()) {
            s.setQueryTimeout(1);
            expectState("57014", () -> s.executeQuery("SELECT pg_sleep(30)"));
        }
        check(System.nanoTime() - started < 10_000_000_000L, "the cancel took effect only after 10 s");
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT 1 AS after_cancel")) {
            check(rs.next() && rs.getInt(1) == 1, "unusable after cancel");
        }
    }

    static void largeResult(Connection c) throws Exception {
        step(BIG_ROWS + " rows read in one go");
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT g, repeat('x', 20) AS big_pad FROM generate_series(1, ?) g")) {
            ps.setInt(1, BIG_ROWS);
            long n = 0, sum = 0;
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) { n++; sum += rs.getInt(1); }
            }
            check(n == BIG_ROWS && sum == (long) BIG_ROWS * (BIG_ROWS + 1) / 2, "large result has " + n + " rows");
        }
    }

    static void fetchSizeCursor(Connection c) throws Exception {
        step("setFetchSize(" + FETCH_SIZE + ") over " + CURSOR_ROWS + " rows (Execute limits, PortalSuspended)");
        c.setAutoCommit(false);
        try (PreparedStatement ps = c.prepareStatement("SELECT g AS cursor_g FROM generate_series(1, ?) g")) {
            ps.setFetchSize(FETCH_SIZE);
            ps.setInt(1, CURSOR_ROWS);
            long n = 0;
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) n++;
            }
            check(n == CURSOR_ROWS, "fetch-size cursor yielded " + n + " rows");
        }
        c.commit();
        c.setAutoCommit(true);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: JdbcCheck HOST PORT USER PASSWORD DBNAME");
            System.exit(2);
        }
        host = args[0]; port = args[1]; user = args[2]; password = args[3]; db = args[4];
        try {
            sslRequireIsRefused();
            step("default sslmode=prefer: SSLRequest declined, plaintext; SCRAM");
            try (Connection c = connect("")) {
                simpleQueries(c);
                typedRoundTrip(c);
                preparedStatement(c);
                errorInTransaction(c);
                batch(c);
                copyBothWays(c);
                listenNotify(c);
                cancelRunningQuery(c);
                largeResult(c);
                fetchSizeCursor(c);
            }
        } catch (Mismatch e) {
            System.err.println("jdbc check failed: " + e.getMessage());
            System.exit(1);
        }
        System.out.println("ok");
    }
}
