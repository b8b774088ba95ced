#define HELLO_EXTRAS_GREETINGS { "world", "albs", "rpm" }
