// findBy*/waitFor poll until their deadline: 5 s instead of 1 s, as the machines that run the tests are
// shared and a page that reads the API several times in a row can take longer than 1 s under load.
import { configure } from "@testing-library/react";

configure({ asyncUtilTimeout: 5000 });
