// Line numbers beside a YAML textarea (.code-editor): kept in step with the text and its scrolling,
// so an error's 「N 行目」 can be found. Without JavaScript the server-rendered numbers stay.
(function () {
  for (const editor of document.querySelectorAll(".code-editor")) {
    const text = editor.querySelector("textarea");
    const gutter = editor.querySelector(".line-numbers");
    if (!text || !gutter) continue;
    const marked = new Set(Array.from(gutter.querySelectorAll(".error-line"), (li) => li.textContent));
    const render = () => {
      const count = text.value.split("\n").length;
      if (gutter.children.length === count) return;
      gutter.replaceChildren(...Array.from({ length: count }, (_, i) => {
        const li = document.createElement("li");
        li.id = "yaml-line-" + (i + 1);
        li.textContent = String(i + 1);
        if (marked.has(li.textContent)) li.className = "error-line";
        return li;
      }));
    };
    text.addEventListener("input", render);
    text.addEventListener("scroll", () => { gutter.scrollTop = text.scrollTop; });
    render();
  }
})();
