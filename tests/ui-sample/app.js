// The test fixture's UI script: says it loaded.
document.getElementById("status").textContent = "Ready";
