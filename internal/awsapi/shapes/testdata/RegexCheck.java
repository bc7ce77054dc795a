// RegexCheck is the java.util.regex oracle for javadiff_test.go:
// java RegexCheck.java PATTERNS INPUTS prints, per input line
// "<pattern index>\t<base64 UTF-8 input>", 1 if Pattern.matches, else 0
// (E for a pattern Java cannot compile), followed by "u" when the input holds
// a code point this JVM's Unicode tables leave unassigned.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.regex.Pattern;

public class RegexCheck {
    public static void main(String[] args) throws Exception {
        List<String> pats = Files.readAllLines(Path.of(args[0]));
        Pattern[] compiled = new Pattern[pats.size()];
        for (int i = 0; i < compiled.length; i++) {
            try {
                compiled[i] = Pattern.compile(new String(Base64.getDecoder().decode(pats.get(i)), StandardCharsets.UTF_8));
            } catch (Exception e) {
                compiled[i] = null;
            }
        }
        StringBuilder out = new StringBuilder();
        for (String line : Files.readAllLines(Path.of(args[1]))) {
            String[] f = line.split("\t", -1);
            Pattern p = compiled[Integer.parseInt(f[0])];
            if (p == null) {
                out.append("E\n");
                continue;
            }
            String s = new String(Base64.getDecoder().decode(f[1]), StandardCharsets.UTF_8);
            out.append(p.matcher(s).matches() ? '1' : '0');
            if (s.codePoints().anyMatch(cp -> Character.getType(cp) == Character.UNASSIGNED)) {
                out.append('u');
            }
            out.append('\n');
        }
        System.out.print(out);
    }
}
